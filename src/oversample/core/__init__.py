"""The NumPy core: the plan and how it is chosen (strategies, rounding,
schedules, the one preparation), seeds, settings, labels, the spread's choice
and the documents. It imports only the standard library and NumPy."""
