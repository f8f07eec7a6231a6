"""Requests Footfall makes to addresses its users give: where they may go (the guard) and how
they are sent (the sender). Webhook deliveries and workflow HTTP blocks share them."""
