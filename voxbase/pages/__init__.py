"""Pages behind the links in our emails (`/account/...`): plain HTML forms for people in a
browser, posting to the same services as the JSON API (docs/adr/1111-account-pages.md)."""
