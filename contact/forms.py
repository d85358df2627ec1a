from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from contact.models import BODY_MAX_LENGTH, SUBJECT_MAX_LENGTH, Message


class MessageForm(forms.ModelForm[Message]):
    """A message to the administrator: a one-line subject and a body."""

    class Meta:
        model = Message
        fields = ["subject", "body"]
        labels = {"subject": _("Subject"), "body": _("Message")}
        widgets = {
            "subject": forms.TextInput(attrs={"maxlength": SUBJECT_MAX_LENGTH}),
            "body": forms.Textarea(attrs={"rows": 8, "maxlength": BODY_MAX_LENGTH}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The model's TextField carries no max_length of its own; the form tells people.
        # `fields` holds plain Fields to the type checker; the body's is a CharField.
        cast(forms.CharField, self.fields["body"]).max_length = BODY_MAX_LENGTH

    def clean_subject(self) -> str:
        subject: str = self.cleaned_data["subject"]
        # The subject becomes an email header: a line break there could forge headers.
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError(
                _("The subject must be a single line."), code="subject_line_break"
            )
        return subject
