"""Every string of our pages has a Vietnamese and a Thai translation, and the committed .mo
files (what Django reads; committed so no machine needs gettext) match their .po files."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ["vi", "th"]
# templatize() turns {% translate %} and {% blocktranslate %} into gettext(u'...') calls.
GETTEXT_CALL = re.compile(r"\bgettext\(u('(?:[^'\\]|\\.)*')\)")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# The pages translated so far; a new page's templates join this list with their translations.
TRANSLATED_TEMPLATES = [
    "base.html",
    "home.html",
    "registration/*.html",
    "cxhub/*.html",
    "api/*.html",
    "dashboard/*.html",
    "cases/*.html",
    "email/*",
    "account/*.html",
]


def catalog(language: str) -> polib.POFile:
    return polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))


def template_strings() -> dict[str, str]:
    """Each translatable string in our templates, with the first template using it."""
    found = {}
    templates = (ROOT / "templates").glob
    for template in sorted(path for pattern in TRANSLATED_TEMPLATES for path in templates(pattern)):
        source = templatize(template.read_text(), origin=str(template))
        for literal in GETTEXT_CALL.findall(source):
            found.setdefault(ast.literal_eval(literal), str(template.relative_to(ROOT)))
    return found


def test_the_templates_have_strings_to_translate():
    strings = template_strings()

    assert {"Sign in", "Sign out", "Language", "E-mail address"} <= set(strings)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_in_our_templates_is_translated(language):
    translated = {entry.msgid for entry in catalog(language).translated_entries()}

    missing = {text: where for text, where in template_strings().items() if text not in translated}

    assert missing == {}, "run makemessages and translate (docs/translating.md)"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_is_empty_or_fuzzy(language):
    po = catalog(language)

    assert [entry.msgid for entry in po.untranslated_entries()] == []
    assert [entry.msgid for entry in po.fuzzy_entries()] == []
    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder(language):
    for entry in catalog(language).translated_entries():
        # A plural entry keeps its forms in msgstr_plural; its msgstr is empty.
        forms = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for form in forms:
            assert sorted(PLACEHOLDER.findall(form)) == sorted(
                PLACEHOLDER.findall(entry.msgid_plural or entry.msgid)
            ), entry.msgid


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_file_holds_the_po_file_s_catalog(language):
    po = catalog(language)
    mo = polib.mofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.mo"))

    assert {e.msgid: e.msgstr for e in mo} == {e.msgid: e.msgstr for e in po.translated_entries()}


def test_compile_messages_finds_no_stale_mo_file():
    result = subprocess.run(
        [sys.executable, "scripts/compile_messages", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
