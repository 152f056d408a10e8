"""Bad input and the clear answer each piece must get: the corpus (:mod:`.cases`, accepted and
answered in status; :mod:`.rejected`, refused by the API server), fuzzed templates (:mod:`.fuzz`),
and the fault run that applies them all at once beside healthy instances (:mod:`.scale`). Every
outcome was checked against a real API server and operator; the test suite applies the corpus
in-process too (``tests/integration/test_bad_input.py``).
"""
