"""Studies, one module each (its config, its work items, its batch function), and the runner
they share (:mod:`latentlang.studies.runner`)."""
