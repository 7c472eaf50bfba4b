"""The purposes for which health data may be processed for secondary use under the EHDS.

Regulation (EU) 2025/327 (European Health Data Space), Article 53(1), lists the purposes for which
a health data access body may grant access to electronic health data for secondary use. tre keeps
them as an enumeration so that an application can only name one of them; each value's comment
cites the point of Article 53(1) it stands for.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    """A secondary-use purpose from EHDS Article 53(1)."""

    # (a) public interest in public and occupational health
    PUBLIC_INTEREST = "public_interest"
    # (b) policy-making and regulatory activities of public sector bodies
    POLICY_MAKING = "policy_making"
    # (c) statistics (official, national, multinational and Union level)
    STATISTICS = "statistics"
    # (d) education or teaching activities in health or care sectors
    EDUCATION = "education"
    # (e) scientific research related to health or care sectors
    SCIENTIFIC_RESEARCH = "scientific_research"
    # (e)(ii) development and innovation of products or services, incl. training, testing and
    # evaluating of algorithms (AI systems) in medical devices and digital health applications
    DEVELOPMENT_AND_INNOVATION = "development_and_innovation"
    # (f) improvement of the delivery of care / personalised medicine
    PERSONALISED_MEDICINE = "personalised_medicine"

    @property
    def label(self) -> str:
        """A human label for listings."""
        return _LABELS[self]


_LABELS: dict[Purpose, str] = {
    Purpose.PUBLIC_INTEREST: "Public interest in public and occupational health",
    Purpose.POLICY_MAKING: "Policy-making and regulatory activities",
    Purpose.STATISTICS: "Official statistics",
    Purpose.EDUCATION: "Education or teaching",
    Purpose.SCIENTIFIC_RESEARCH: "Scientific research",
    Purpose.DEVELOPMENT_AND_INNOVATION: (
        "Development and innovation of products or services, incl. training, testing and "
        "evaluating AI"
    ),
    Purpose.PERSONALISED_MEDICINE: "Personalised medicine and improvement of care",
}
