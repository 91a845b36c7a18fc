"""The dashboard's own code: reading uploads, samples, projection, animation frames, figures
and the services the pages call.

It uses the library (``gmm_core``) and never the other way round; like the library, it never
imports Streamlit (only ``pages/`` does). Installed with the ``dashboard`` extra.
"""
