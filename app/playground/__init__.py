"""The development pages: the try-on playground at `/` and the local mailbox at `/dev/mail`.

Both exist so a person who only ran `make run` can try the product in a browser. Neither is a
second product: the playground is a plain client of the public `/api/v1` (the contract the web
app uses), and the mailbox only reads the `.eml` files the local mail backend writes. They are
on in development, off in production, and production refuses PLAYGROUND_ENABLED=true.
"""
