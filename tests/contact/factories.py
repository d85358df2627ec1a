from contact.models import Message
from users.models import User


def make_message(sender: User, **fields) -> Message:
    """A saved message, queued unless told otherwise, written by `sender`."""
    values = {
        "sender": sender,
        "sender_email": sender.email,
        "sender_email_confirmed": sender.email_verified,
        "subject": "Question about my order",
        "body": "Hello,\nwhere is my parcel?\n",
        **fields,
    }
    return Message.objects.create(**values)
