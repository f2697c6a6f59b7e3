"""Share links: a public before/after page of one image, for the person's hairdresser."""
