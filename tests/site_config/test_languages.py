"""English and Russian: each page follows the switcher's choice, else the browser; the
catalogues under locale/ are complete, cover every marked string, and are compiled."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD
from tests.system.topology import skip_or_fail

ROOT = Path(settings.BASE_DIR)
CATALOGUES = sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po"))
# The parts of the project makemessages reads; the rest is tooling and tests.
SOURCES = [
    "manage.py",
    "site_config",
    "common",
    "outbox",
    "users",
    "contact",
    "templates",
    "locale",
]


def test_a_russian_browser_gets_the_site_in_russian(client):
    response = client.get(reverse("home"), headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"})

    html = response.content.decode()
    assert '<html lang="ru">' in html
    assert "<h1>Написать администратору</h1>" in html
    assert response["Content-Language"] == "ru"
    assert "Accept-Language" in response["Vary"]


@pytest.mark.parametrize("accept_language", ["en-GB,en;q=0.9", "de-DE,de;q=0.9", ""])
def test_any_other_browser_gets_the_site_in_english(client, accept_language):
    response = client.get(reverse("home"), headers={"Accept-Language": accept_language})

    assert "<h1>Write to the administrator</h1>" in response.content.decode()
    assert response["Content-Language"] == "en"


def test_the_switcher_offers_each_language_in_its_own_name(client):
    html = client.get(reverse("login"), headers={"Accept-Language": "ru"}).content.decode()

    switcher = html.split('class="language-switcher"', 1)[1].split("</form>", 1)[0]
    assert f'action="{reverse("set_language")}"' in html
    assert re.findall(r'value="(\w+)" lang="\w+"\s*(aria-current="true")?>([^<]+)<', switcher) == [
        ("en", "", "English"),
        ("ru", 'aria-current="true"', "Русский"),
    ]
    # The same page comes back after the switch.
    assert f'name="next" value="{reverse("login")}"' in switcher


def test_the_switchers_choice_wins_over_the_browser(client):
    switched = client.post(reverse("set_language"), {"language": "ru", "next": reverse("login")})

    assert switched.status_code == 302
    assert switched["Location"] == reverse("login")
    cookie = switched.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "ru"
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    page = client.get(reverse("login"), headers={"Accept-Language": "en"})
    assert "<h1>Войти</h1>" in page.content.decode()


def test_the_switcher_does_not_send_people_off_site(client):
    switched = client.post(
        reverse("set_language"), {"language": "ru", "next": "https://evil.example/"}
    )

    assert switched.status_code == 302
    assert "evil.example" not in switched["Location"]


@pytest.mark.django_db
def test_live_validation_answers_in_the_persons_language(client):
    response = client.post(
        reverse("register-validate"),
        {
            "email": "not-an-email",
            "password1": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD + "x",
            "_touched": ["email", "password2"],
        },
        headers={"Accept-Language": "ru"},
    )

    assert response.json()["errors"] == {
        "email": ["Введите правильный адрес электронной почты."],
        "password2": ["Пароли не совпадают."],
    }


# ---------------------------------------------------------------- the catalogues


def python_placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]", text))


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda path: path.parts[-3])
def test_every_string_is_translated_with_its_placeholders(po_path):
    catalogue = polib.pofile(str(po_path))

    assert catalogue.untranslated_entries() == []
    assert catalogue.fuzzy_entries() == []
    assert catalogue.obsolete_entries() == []
    for entry in catalogue.translated_entries():
        expected = python_placeholders(entry.msgid_plural or entry.msgid)
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for translation in translations:
            # A plural's count may go unnamed in one form ("one message"), nothing else.
            missing = expected - python_placeholders(translation)
            assert missing <= {"count", "entries", "limit", "minutes"}, (entry.msgid, translation)
            assert python_placeholders(translation) <= expected, (entry.msgid, translation)


def test_both_languages_have_a_catalogue():
    assert [path.parts[-3] for path in CATALOGUES] == ["en", "ru"]
    assert [code for code, _ in settings.LANGUAGES] == ["en", "ru"]


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda path: path.parts[-3])
def test_the_shipped_compiled_catalogue_matches_its_source(po_path):
    # The compiled files are committed, so a fresh clone needs no gettext to show them.
    source = polib.pofile(str(po_path))
    compiled = polib.mofile(str(po_path.with_suffix(".mo")))

    def translations(catalogue) -> dict:
        return {
            (entry.msgid, entry.msgid_plural): entry.msgstr or dict(entry.msgstr_plural)
            for entry in catalogue
            if entry.msgid
        }

    assert translations(compiled) == translations(source)


def test_the_catalogues_hold_every_string_marked_in_the_code(tmp_path):
    """makemessages, run on a copy of the project, finds nothing the catalogues lack."""
    if not shutil.which("xgettext"):
        skip_or_fail("needs GNU gettext: sudo apt-get install gettext")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    environment = {**os.environ, "SECRET_KEY": "x" * 50, "DEBUG": "true"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--all", "-v0"],
        cwd=tmp_path,
        env={key: value for key, value in environment.items() if key != "DATABASE_URL"},
        check=True,
    )

    for po_path in CATALOGUES:
        regenerated = polib.pofile(str(tmp_path / po_path.relative_to(ROOT)))
        new = regenerated.untranslated_entries() + regenerated.fuzzy_entries()
        assert [entry.msgid for entry in new] == [], f"run `make messages`: {po_path}"
        # A string gone from the code leaves its entry behind, marked obsolete.
        gone = regenerated.obsolete_entries()
        assert [entry.msgid for entry in gone] == [], f"run `make messages`: {po_path}"


def test_the_admin_is_headed_by_the_sites_own_name(admin_client):
    html = admin_client.get("/admin/", headers={"Accept-Language": "ru"}).content.decode()

    assert '<a href="/admin/">Написать администратору</a>' in html
    assert "Django" not in html.split("<body", 1)[1]
