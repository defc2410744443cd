"""Clients of Tarif's own services: the engine's gRPC client."""
