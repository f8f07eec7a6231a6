"""Contacts and how events find them: locators, normalisation, resolution rules."""
