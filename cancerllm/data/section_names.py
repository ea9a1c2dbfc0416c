"""Canonical clinic-note sections and the header spellings seen for each.

Shared by the synthetic generator (which writes varied headers) and the section parser
(which must recognise them, in any case, with or without a colon or numbering). Add a
hospital's own header spellings here or pass extra variants to the parser.
"""

from __future__ import annotations

SECTIONS: list[str] = [
    "reason_for_visit", "treatment_site", "subjective", "nursing_ros", "objective",
    "laboratory_results", "diagnosis", "assessment", "plan",
]

# The six sections that form the diagnosis task's input (paper 2.2.2), in order.
DIAGNOSIS_INPUT = SECTIONS[:6]
# Treatment plan input adds diagnosis and assessment (paper 2.2.3).
TREATMENT_INPUT = SECTIONS[:8]

HEADER_VARIANTS: dict[str, list[str]] = {
    "reason_for_visit": ["Reason for Visit", "Reason for visit", "REASON FOR VISIT", "Visit Reason",
                         "Chief Complaint", "CC", "Reason for Consultation"],
    "treatment_site": ["Treatment Site", "TREATMENT SITE", "Site of Treatment", "Tx Site", "Treatment site(s)"],
    "subjective": ["Subjective", "SUBJECTIVE", "S", "History of Present Illness", "HPI", "Interval History"],
    "nursing_ros": ["Nursing Review of Systems", "NURSING REVIEW OF SYSTEMS", "Nursing ROS", "ROS (Nursing)",
                    "Review of Systems", "ROS"],
    "objective": ["Objective", "OBJECTIVE", "O", "Physical Exam", "Physical Examination", "PE", "Exam"],
    "laboratory_results": ["Laboratory Results", "LABORATORY RESULTS", "Labs", "Lab Results", "Laboratory Data",
                           "Pertinent Labs"],
    "diagnosis": ["Diagnosis", "DIAGNOSIS", "Dx", "Diagnoses", "Oncologic Diagnosis"],
    "assessment": ["Assessment", "ASSESSMENT", "A", "Impression", "Clinical Impression"],
    "plan": ["Plan", "PLAN", "P", "Treatment Plan", "Recommendations", "Plan of Care"],
}
