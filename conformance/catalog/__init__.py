"""Model discovery and documented claims: which models a provider says it serves, and what they support.

Along the data flow: `fetch` GETs the profile's sources through the run's transports, `parsers` reads
each format defensively, `merge` makes one entry per model, and `model` holds the result (`Catalog`,
its entries, and the claim each cell carries).
"""
