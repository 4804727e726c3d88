"""What several integration test modules share: fixtures, app factories and look-ups, one module per subject.

Test modules import from here, never from one another; a fixture imported into a test module is used there
under its own name (list it in the module's ``__all__`` when nothing else in the module names it).
"""
