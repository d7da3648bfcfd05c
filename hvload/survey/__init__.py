"""The thesis's hypercall survey (Table 7.1) derived from TLFS facts, judgments and profiles.

The modules, each importing only those below it:

* ``_text``: the table ``hvload survey`` prints and ``--explain``;
* :mod:`~hvload.survey.rules`: :func:`classify`, :func:`survey`, :func:`changes`, the rules
  (their verdicts and checks are the types of ``_assessment``);
* :mod:`~hvload.survey.profiles`: the frameworks judged for (:data:`THESIS`, ...);
* :mod:`~hvload.survey.judgments`: the survey's own judgments, each with its words;
* :mod:`~hvload.survey.catalog`: the calls' TLFS facts (``_records``, ``_load``) and their
  register values (``_registers``);
* :mod:`~hvload.survey.tlfs`: the TLFS's hypercall encoding.
"""

from ._assessment import Assessment, Change, Check, Verdict
from ._text import explain, format_report, format_table
from .profiles import (
    PROFILE_NAMES,
    PROFILES,
    RING0_HYPOTHETICAL,
    THESIS,
    Profile,
    get_profile,
    hvload_profile,
)
from .rules import changes, classify, parameter_knowledge, survey, to_frame

__all__ = [
    "PROFILES",
    "PROFILE_NAMES",
    "RING0_HYPOTHETICAL",
    "THESIS",
    "Assessment",
    "Change",
    "Check",
    "Profile",
    "Verdict",
    "changes",
    "classify",
    "explain",
    "format_report",
    "format_table",
    "get_profile",
    "hvload_profile",
    "parameter_knowledge",
    "survey",
    "to_frame",
]
