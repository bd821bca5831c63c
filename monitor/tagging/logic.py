"""A topic's rule over keyword groups: whether it holds, what could make it hold, how it reads."""

from __future__ import annotations

from monitor.config import RuleNode


def evaluate(rule: RuleNode, present: set[str]) -> bool:
    """Whether ``rule`` holds when exactly the groups in ``present`` were found."""
    if isinstance(rule, str):
        return rule in present
    if rule.all is not None:
        return all(evaluate(r, present) for r in rule.all)
    if rule.any is not None:
        return any(evaluate(r, present) for r in rule.any)
    return not evaluate(rule.not_, present)


def positive_groups(rule: RuleNode | None, negated: bool = False) -> set[str]:
    """The groups whose presence can make ``rule`` hold (not those it names only under a NOT)."""
    if rule is None:
        return set()
    if isinstance(rule, str):
        return set() if negated else {rule}
    if rule.not_ is not None:
        return positive_groups(rule.not_, not negated)
    return set().union(*(positive_groups(r, negated) for r in (rule.all or rule.any or [])))


def negated_groups(rule: RuleNode | None) -> set[str]:
    """The groups ``rule`` names under a NOT: what can keep it from holding."""
    if rule is None or isinstance(rule, str):
        return set()
    if rule.not_ is not None:
        return positive_groups(rule.not_)
    return set().union(*(negated_groups(r) for r in (rule.all or rule.any or [])))


def could_hold(rule: RuleNode, present: set[str]) -> bool:
    """Whether ``rule`` could hold in some part of a document whose groups are at most ``present``: as
    ``evaluate``, but a NOT is assumed to hold (a part may lack what the whole document has)."""
    if isinstance(rule, str):
        return rule in present
    if rule.all is not None:
        return all(could_hold(r, present) for r in rule.all)
    if rule.any is not None:
        return any(could_hold(r, present) for r in rule.any)
    return True


def describe(rule: RuleNode) -> str:
    """The rule as a readable expression, e.g. ``india_side AND russia_side AND meeting``."""
    if isinstance(rule, str):
        return rule
    if rule.not_ is not None:
        inner = describe(rule.not_)
        return f"NOT {inner}" if isinstance(rule.not_, str) or rule.not_.not_ is not None else f"NOT ({inner})"
    joiner = " AND " if rule.all is not None else " OR "
    members = rule.all if rule.all is not None else rule.any
    parts = [describe(m) if isinstance(m, str) or m.not_ is not None else f"({describe(m)})" for m in members]
    return joiner.join(parts)
