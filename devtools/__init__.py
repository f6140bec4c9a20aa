"""Development tools: the feed generator (`feed`) and the strict stand-in geocoder (`geocoder`).

They serve the demo, the tests and the benchmarks, never production: the wheel leaves this
package out (tests/test_packaging.py checks it). They are imported from a checkout, where the
editable install (`pip install -e .`, as ./scripts/test and ./scripts/demo make it) puts the
repository's root on the path.
"""
