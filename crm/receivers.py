"""How the CRM reacts to changes in accounts (connected in ``CrmConfig.ready``)."""

from crm.services import owner_unassign


def unassign_departing_member(sender, *, organization, user, actor, **kwargs) -> None:
    owner_unassign(org=organization, user=user, actor=actor)
