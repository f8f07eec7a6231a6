"""The ASGI app: the only place that knows HTTP (status codes, headers, auth schemes).

One module per route family (``events`` on a raw ASGI fast path; ``history``, ``contacts``,
``contact_list``, ``identity``, ``eventtypes``, ``failures``, ``tokens``, ``keys``,
``operations`` on Starlette), each listing its ``OPERATIONS``; ``app`` assembles them, and
``openapi`` describes them. Shared: ``auth``, ``params`` (query parameters and paging),
``errors`` (one renderer), ``asgi``, ``routing`` and ``services`` (typed access to the
composition root). The Segment API (``segment/``), the browser tracker (``tracker/``) and the
dashboard (``dashboard/``) join as families of their own.
"""
