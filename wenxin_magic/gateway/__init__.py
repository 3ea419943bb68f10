"""The classroom gateway: one teacher's key, a quota shared fairly by every student and replica, a ledger."""
