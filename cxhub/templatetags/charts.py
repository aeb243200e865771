"""`{% load charts %}`: what a page needs to hand charts to static/cxhub/charts.js."""

from django import template

from cxhub import charts

register = template.Library()


@register.simple_tag
def chart_separators() -> str:
    """For `data-separators` on a chart's div: the active language's number marks."""
    return charts.separators()
