"""HairTryOn backend."""
