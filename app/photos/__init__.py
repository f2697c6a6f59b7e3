"""Fair photo checks before charging (SPEC §4a): is the photo lit, sharp, and of one face big
enough to work with? Measured once per upload, judged against the settings on every use."""
