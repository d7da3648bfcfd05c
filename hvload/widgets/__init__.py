"""Interactive controls for notebooks: run a small campaign, or browse a stored one.

:class:`Explorer` measures a campaign with the traps this machine can issue, in a
background thread that a Stop button ends at the next block boundary; a progress bar
counts blocks, and the figure and the comparison table follow the blocks finished so
far. Where nothing can be measured it says why and opens campaign files instead.
:class:`Browser` shows one stored campaign: which levels, which figure, which practical
threshold, and the verdicts that follow. :mod:`hvload.widgets.dashboard` serves both as a
web page.

Every control calls a plain method (``run``, ``open``, ``set_threshold``, ...), and every
observer reacts to ``widget.value``, so both are driven from tests without a browser. The
figures are rendered to PNG and placed in an ``ipywidgets.Output`` directly, which needs
neither a running kernel nor an interactive matplotlib backend.

Modules: ``explorer`` (:class:`Explorer`, :func:`trap_choices`), ``browser``
(:class:`Browser`), ``compare`` (:class:`Compare`: two stored campaigns side by side, with
``hvload compare``'s analysis), ``_runs`` (:class:`RunList`: the campaign files of a folder
and the names given to them), ``_session`` (the background run, without ipywidgets), ``_common``
(the figure, level, threshold, reference, unit and metric views both share), ``_html``
(:func:`comparisons_html`, its tooltips), ``_info`` (the campaign info panel).
"""

from ..workload.schedule import parse_levels
from ._html import comparisons_html
from ._runs import RunList
from .browser import Browser
from .compare import Compare
from .explorer import Explorer, trap_choices

__all__ = [
    "Browser",
    "Compare",
    "Explorer",
    "RunList",
    "comparisons_html",
    "parse_levels",
    "trap_choices",
]
