"""Signals that let apps to the right of ``accounts`` react to its changes without it importing them."""

from django.dispatch import Signal

#: Sent inside the transaction that removes a membership, with ``organization``, ``user`` and ``actor``.
member_removed = Signal()
