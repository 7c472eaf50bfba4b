"""Imaging datasets: synthetic studies, de-identification, ingestion, quality, catalogue."""
