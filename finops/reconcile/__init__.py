"""Reconciliation (estimate vs bill, explained) and allocation, computed by ``sql/reconcile``."""

from finops.reconcile.run import reconcile

__all__ = ["reconcile"]
