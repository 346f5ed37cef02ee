"""Alerts: rules over liquidation maps, a de-duplicating evaluator, deliveries and the watch loop.

* ``rules``: the YAML schema (``load_rules``) and what each rule finds;
* ``engine``: ``AlertEngine`` applies the rules per update, keys each alert and delivers it at least
  once to every sink through an outbox;
* ``state``: the state file (lock, atomic saves, bad files set aside);
* ``delivery``: terminal, JSON-lines file and webhook sinks;
* ``watch``: update sources (replay, polling a growing source) and the loop.
"""
