"""Files: every image that enters HairTryOn is checked and cleaned here (`intake`)."""
