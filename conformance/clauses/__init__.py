"""The clauses as property tests: test_<prefix>.py holds the clauses <prefix>.*, one test each,
named after its clause id (``cell.elman`` is ``test_cell_elman``); _helpers.py what they share.

Run them with ``pytest --pyargs conformance --rnn-impl=NAME``.
"""
