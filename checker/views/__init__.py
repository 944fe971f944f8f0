"""What users and tools read: traces (ITF), text, narration, HTML, graphs, summaries."""
