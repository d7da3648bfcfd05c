"""The thesis's hypercall survey (Table 7.1) derived from TLFS facts, judgments and profiles.

The modules, each importing only those below it:

* ``_text``: the table ``hvload survey`` prints and ``--explain``;
* :mod:`~hvload.survey.rules`: :func:`classify`, :func:`survey`, :func:`changes`, the rules
  (their verdicts and checks are the types of ``_assessment``);
* ``_kernel_text``: the same for the ``kernel`` profile;
* :mod:`~hvload.survey.kernel`: which calls a Linux guest kernel issues on behalf of user
  space (:func:`kernel_survey`), kept apart from the survey's judgments;
* :mod:`~hvload.survey.profiles`: the frameworks judged for (:data:`THESIS`, ...);
* :mod:`~hvload.survey.judgments`: the survey's own judgments, each with its words;
* :mod:`~hvload.survey.catalog`: the calls' TLFS facts (``_records``, ``_load``) and their
  register values (``_registers``);
* :mod:`~hvload.survey.tlfs`: the TLFS's hypercall encoding.
"""

from ._assessment import Assessment, Change, Check, Verdict
from ._text import explain, format_report, format_table
from .kernel import KernelMark, kernel_survey
from .profiles import (
    KERNEL,
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
    "KERNEL",
    "PROFILES",
    "PROFILE_NAMES",
    "RING0_HYPOTHETICAL",
    "THESIS",
    "Assessment",
    "Change",
    "Check",
    "KernelMark",
    "Profile",
    "Verdict",
    "changes",
    "classify",
    "explain",
    "format_report",
    "format_table",
    "get_profile",
    "hvload_profile",
    "kernel_survey",
    "parameter_knowledge",
    "survey",
    "to_frame",
]
