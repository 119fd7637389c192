"""Apache Beam pipelines composed from `corpus/` stages (see pipelines.build)."""
