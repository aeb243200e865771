"""`{% load dashboard %}`: numbers as the reader's language writes them (1.234,5 in
Vietnamese), scores to the precision their scale deserves."""

from django import template
from django.utils import formats

register = template.Library()

# CES is a mean on 1–7: a tenth is too coarse to see a change; NPS and CSAT are percentages.
DECIMALS = {"ces": 2}


def _decimals(kind: str) -> int:
    return DECIMALS.get(kind, 1)


@register.filter
def score(value, kind="nps"):
    if value is None:
        return "–"
    return formats.number_format(value, _decimals(kind), use_l10n=True)


@register.filter
def signed(value, kind="nps"):
    if value is None:
        return "–"
    # The sign follows the number as shown: a change of −0.004 reads "0.00", not "−0.00".
    shown = round(value, _decimals(kind))
    text = formats.number_format(abs(shown), _decimals(kind), use_l10n=True)
    return f"+{text}" if shown > 0 else f"−{text}" if shown < 0 else text


@register.filter
def count(value):
    if value is None:
        return "–"
    return formats.number_format(value, 0, use_l10n=True, force_grouping=True)


@register.filter
def interval(ci, kind="nps"):
    if not ci:
        return "–"
    return f"{score(ci[0], kind)} – {score(ci[1], kind)}"


@register.simple_tag
def chart_id(name):
    return f"fig-{name}"
