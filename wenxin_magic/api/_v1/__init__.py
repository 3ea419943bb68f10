"""The v1 adapter (wenxinworkshop): its model table, rules, error codes, access tokens and wire format."""
