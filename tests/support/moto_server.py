"""moto_server, with each request's query string handed to moto exactly as the client sent it.

With IAM enforcement on, moto checks each request's SigV4 signature against the URL Flask
reports, and Werkzeug's `request.url` decodes `%2F` in the query, so every signed S3 listing
with a `/` in its prefix is refused with SignatureDoesNotMatch (getmoto/moto#5948, open).
This launcher builds `request.url` from the raw query string instead; nothing else changes.
Usage: python moto_server.py [moto_server arguments]."""

import sys

import flask


def _url(request):
    query = request.query_string.decode("latin-1")
    return request.base_url + ("?" + query if query else "")


flask.Request.url = property(_url)

from moto.server import main  # noqa: E402  (after the patch, before the app is built)

if __name__ == "__main__":
    sys.exit(main())
