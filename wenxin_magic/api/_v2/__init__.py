"""The v2 adapter (``/v2/chat/completions``): its model table, rules, error codes, bearer tokens and wire format."""
