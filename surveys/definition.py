"""The shape of a survey's questions, and the check that a definition is well formed.

A question is a JSON object:

    {"key": "reason", "kind": "choice", "required": false, "multiple": true,
     "text": {"vi": "...", "th": "...", "en": "..."},
     "choices": [{"key": "wait_time", "text": {"vi": "...", "th": "...", "en": "..."}}],
     "show_if": {"question": "nps", "lte": 6}}

Scored kinds (nps, csat, ces) may carry `labels: {"low": {...}, "high": {...}}`; text
questions `max_length` (default 1000); contact questions collect name/email/phone and only
with the customer's explicit consent. `show_if` names an earlier scored question and one of
`lte`, `gte` or `eq` with an integer.
"""

import re

from .models import SCALES, QuestionKind

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
CONDITION_OPS = {"lte": lambda a, b: a <= b, "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b}
DEFAULT_TEXT_MAX_LENGTH = 1000
SUPPORTED_LANGUAGES = ("vi", "th", "en")


class DefinitionError(ValueError):
    pass


def check_definition(languages: list, questions: list) -> None:
    """Raise DefinitionError naming the first problem; a published version must pass this."""
    if not isinstance(languages, list) or not languages:
        raise DefinitionError("languages: list at least one language code.")
    for code in languages:
        if code not in SUPPORTED_LANGUAGES:
            raise DefinitionError(
                f"languages: {code!r} is not one of {', '.join(SUPPORTED_LANGUAGES)}."
            )
    if not isinstance(questions, list) or not questions:
        raise DefinitionError("questions: a survey needs at least one question.")
    seen: dict[str, dict] = {}
    for position, question in enumerate(questions, start=1):
        where = f"question {position}"
        if not isinstance(question, dict):
            raise DefinitionError(f"{where}: must be an object.")
        key = question.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise DefinitionError(f"{where}: key must be lower-case letters, digits and _.")
        where = f"question {key!r}"
        if key in seen:
            raise DefinitionError(f"{where}: the key is used twice.")
        if question.get("kind") not in QuestionKind.values:
            raise DefinitionError(f"{where}: kind must be one of {', '.join(QuestionKind.values)}.")
        if not isinstance(question.get("required", False), bool):
            raise DefinitionError(f"{where}: required must be true or false.")
        _check_translations(question.get("text"), languages, f"{where} text")
        if question["kind"] == QuestionKind.CHOICE:
            _check_choices(question, languages, where)
        if question["kind"] == QuestionKind.TEXT:
            limit = question.get("max_length", DEFAULT_TEXT_MAX_LENGTH)
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10000:
                raise DefinitionError(f"{where}: max_length must be an integer from 1 to 10000.")
        for end in (question.get("labels") or {}).values():
            _check_translations(end, languages, f"{where} labels")
        if "show_if" in question:
            _check_condition(question["show_if"], seen, where)
        seen[key] = question


def _check_translations(texts, languages, where):
    if not isinstance(texts, dict):
        raise DefinitionError(f"{where}: give a text per language.")
    for code in languages:
        if not isinstance(texts.get(code), str) or not texts[code].strip():
            raise DefinitionError(f"{where}: the {code!r} translation is missing.")


def _check_choices(question, languages, where):
    choices = question.get("choices")
    if not isinstance(choices, list) or not choices:
        raise DefinitionError(f"{where}: a choice question needs choices.")
    keys = set()
    for choice in choices:
        if not isinstance(choice, dict) or not KEY_RE.match(str(choice.get("key", ""))):
            raise DefinitionError(f"{where}: every choice needs a key of lower-case letters and _.")
        if choice["key"] in keys:
            raise DefinitionError(f"{where}: choice {choice['key']!r} is listed twice.")
        keys.add(choice["key"])
        _check_translations(choice.get("text"), languages, f"{where} choice {choice['key']!r}")
    if not isinstance(question.get("multiple", False), bool):
        raise DefinitionError(f"{where}: multiple must be true or false.")


def _check_condition(condition, earlier, where):
    if not isinstance(condition, dict) or not isinstance(condition.get("question"), str):
        raise DefinitionError(f"{where}: show_if names a question and a comparison.")
    target = earlier.get(condition["question"])
    if target is None or target["kind"] not in SCALES:
        raise DefinitionError(f"{where}: show_if must name an earlier nps, csat or ces question.")
    ops = [op for op in condition if op != "question"]
    if len(ops) != 1 or ops[0] not in CONDITION_OPS:
        raise DefinitionError(f"{where}: show_if takes exactly one of lte, gte, eq.")
    value = condition[ops[0]]
    if not isinstance(value, int) or isinstance(value, bool):
        raise DefinitionError(f"{where}: show_if compares with an integer.")


def condition_holds(condition: dict | None, answers: dict) -> bool:
    """A question with no condition is always shown; one whose question went unanswered is not."""
    if not condition:
        return True
    given = answers.get(condition["question"])
    if not isinstance(given, int) or isinstance(given, bool):
        return False
    op = next(op for op in condition if op != "question")
    return CONDITION_OPS[op](given, condition[op])
