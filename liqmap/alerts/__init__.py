"""Alerts: rules over liquidation maps, a de-duplicating evaluator, deliveries and the watch loop.

* ``rules``: the YAML schema (``load_rules``) and what each rule finds;
* ``engine``: ``AlertEngine`` applies the rules per update and delivers each event once;
* ``delivery``: terminal, JSON-lines file and webhook sinks;
* ``watch``: update sources (replay, polling a growing source) and the loop.
"""
