"""Everything that differs between exchanges, one package per venue.

A venue package holds its historical file formats and layouts, download
endpoints, symbol metadata and margin rules; the rest of liqmap is
venue-neutral and learns the venue from the data it reads.
"""
