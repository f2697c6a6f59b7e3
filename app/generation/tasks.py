"""Names of the generation tasks on the job queue (stable: queued messages carry them)."""

GENERATE_IMAGE = "hairtryon.generate_image"
GENERATE_VIEWS = "hairtryon.generate_views"
