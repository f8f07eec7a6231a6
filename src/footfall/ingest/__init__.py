"""Parsing and validation of incoming payloads into events ready to store."""
