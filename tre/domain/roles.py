"""Node roles (what a person does on this node) and project roles (what a member does)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A role on the node; OIDC groups are mapped onto these."""

    RESEARCHER = "researcher"
    SME_DEVELOPER = "sme_developer"
    HDAB_OFFICER = "hdab_officer"
    OUTPUT_CHECKER = "output_checker"
    DATA_HOLDER = "data_holder"
    OPERATOR = "operator"


class ProjectRole(StrEnum):
    """A member's role inside one project; observers see the project but never its data."""

    LEAD = "lead"
    RESEARCHER = "researcher"
    OBSERVER = "observer"


DATA_ROLES: frozenset[ProjectRole] = frozenset({ProjectRole.LEAD, ProjectRole.RESEARCHER})
"""Project roles that may read the permit's datasets."""
