"""Word lists and the tiny stemmer of the reply checker (English and German).

Pure: no Django, no other caseline imports. Kept apart from ``replycheck`` so the rules
there read as rules, not as word lists.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ASK_WORDS", "STOPWORDS", "normalise", "stem", "tokens"]

_EN_STOP = """
a about above after again against all also am an and any anyway are aren as at be because
been before being below between both but by can cannot could couldn did didn do does doesn
doing don down during each else even ever every few for from further get gets got had has
have having he her here hers herself him himself his how however i if in into is isn it its
itself just let lets like me more most much must my myself need needs no nor not now of off
often on once one only or other our ours ourselves out over own quite rather really same
seems shall she should so some something still such than that the their theirs them
themselves then there these they this those through thus to too under until up upon us very
was wasn we were weren what whats when where whether which while who whom whose why will
with within without won would wouldn yes yet you your yours yourself yourselves ok okay
hi hello hey dear thanks thank please kindly regards best cheers sorry again one thing
also just quick question questions already currently maybe perhaps ll ve re d s t m
way ways thing things anything somehow someone somebody anyone anybody actually many
show shows exactly
they're they've they'll there's that's what's it'll
its it's i'm we're you're we've i've we'll i'll don't doesn't can't won't isn't aren't
"""

_DE_STOP = """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer
anderes anderm andern anders auch auf aus bei beim bin bis bist da dabei dadurch dafür dagegen
daher dahin damals damit danach daneben dann daran darauf daraus darf darfst darin darum
darunter das dass dasselbe dazu dein deine deinem deinen deiner dem demselben den denn
denselben der derer derselbe derselben des deshalb desselben dessen dich die dies diese
dieselbe dieselben diesem diesen dieser dieses dir doch dort du durch eben ein eine einem
einen einer eines einig einige einigem einigen einiger einiges einmal er es etwas euch euer
eure eurem euren eurer eures für gegen gewesen hab habe haben hat hatte hatten hier hin
hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im in indem ins ist jede jedem
jeden jeder jedes jene jenem jenen jener jenes jetzt kann kannst kein keine keinem keinen
keiner keines können könnte könnten könnt machen man manche manchem manchen mancher manches
mein meine meinem meinen meiner meines mich mir mit muss musste nach nicht nichts noch nun
nur ob oder ohne sehr sein seine seinem seinen seiner seines selbst sich sie ihnen sind so
solche solchem solchen solcher solches soll sollte sondern sonst über um und uns unse unser
unsere unserem unseren unserer unseres unter viel vom von vor während war waren warst was weg
weil weiter welche welchem welchen welcher welches wenn werde werden wie wieder will wir
wird wirst wo wollen wollte würde würden zu zum zur zwar zwischen bitte danke hallo guten
tag gruß grüße viele freundlichen liebe lieber sehr geehrte geehrter herr frau ja nein mal
gerne gern außerdem bzw ca eigentlich einfach schon bereits gibt geben sagen mehr
müssen musst wurde wurden worden seit letzten letzte letzter per genau etwa ungefähr dafür
davon darüber warum wieso weshalb weswegen wann wer wen wem woran wofür wozu gerade derzeit
irgendwie trotzdem
"""

#: Words that only make a sentence an ask ("could you tell us ..."); they carry no topic.
ASK_WORDS = frozenset(
    """
    can could would will tell know let confirm advise check wondering wonder ask asking
    asked wanted want like please kindly update info information help possible able
    könnten können könnt würden wäre sagen mitteilen wissen fragen frage wollte prüfen
    bescheid geben möglich brauche brauchen bräuchte bräuchten benötige benötigen
    """.split()
)

STOPWORDS = frozenset(_EN_STOP.split()) | frozenset(_DE_STOP.split())

_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss", "’": "'"})

# Suffixes stripped before the prefix cut (longest first); enough to join
# invoice/invoices, replicate/replication/replicated, Rechnung/Rechnungen.
_SUFFIXES = (
    "ations",
    "ation",
    "ions",
    "ion",
    "ungen",
    "ings",
    "ing",
    "ung",
    "ies",
    "ied",
    "ers",
    "ed",
    "es",
    "en",
    "er",
    "ly",
    "s",
    "e",
)

STEM_PREFIX = 6

_PARTICIPLE = re.compile(
    r"^(an|auf|aus|ein|nach|vor|zu|ab|mit|um|zuruck|weiter|durch|hoch|frei|fest)?"
    r"ge([a-z]{3,}(?:t|en|te|ten|tes|ter|tem))$"
)

_TOKEN = re.compile(r"[0-9a-zäöüß][0-9a-zäöüß'._/-]*[0-9a-zäöüß]|[0-9a-zäöüß]", re.IGNORECASE)


def normalise(word: str) -> str:
    """Lower-case, NFC, German umlauts folded (ä -> a, ß -> ss)."""
    return unicodedata.normalize("NFC", word).lower().translate(_FOLD)


def stem(word: str) -> str:
    """A deliberately crude stem: strip one common suffix, then keep a prefix.

    Good enough to match inflections and derivations in both languages
    (``encrypted``/``encryption`` -> ``encryp``, ``Rechnungen``/``Rechnung`` -> ``rechn``);
    identifiers with digits are kept whole.
    """
    if any(ch.isdigit() for ch in word) or len(word) <= 4:
        return word
    participle = _PARTICIPLE.match(word)
    if participle:  # German past participles: angesehen -> ansehen, geprüft -> prüf
        word = (participle.group(1) or "") + participle.group(2)
        for ending in ("en", "es", "er", "em", "e"):
            if word.endswith("t" + ending):
                word = word[: -len(ending)]
                break
        if word.endswith("et"):
            word = word[:-2]
        elif word.endswith("t"):
            word = word[:-1]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:STEM_PREFIX]


# Words support mail uses for the same thing, in both languages: each group is one
# concept after stemming ("Obergrenze" answers "Begrenzung", "transferred" answers "copy").
_SYNONYMS = (
    "cost costs price pricing fee fees kosten kostet preis gebühr gebühren",
    "invoice invoices bill billing rechnung rechnungen",
    "refund refunded refunds erstatten erstattet erstattung gutschrift",
    "copy copies copied transfer transferred transfers kopieren kopiert übertragen",
    "everything whole entire full vollständig komplett alles gesamte",
    "limit limits maximum max cap capped begrenzung grenze obergrenze höchstens limitiert",
    "cause caused causes reason because ursache grund weil",
    "delete deleted deletion remove removed purge löschen gelöscht entfernen entfernt",
    "enable enabled activate activated aktivieren aktiviert einschalten",
    "disable disabled deactivate deactivated deaktivieren deaktiviert abschalten",
    "login logins log sign-in signin logon anmeldung anmelden einloggen eingeloggt reinkommt reinkommen",
    "certificate certificates cert certs zertifikat zertifikate",
    "documentation docs doku dokumentation",
    "downtime outage offline ausfall unterbrechung",
    "configurable configure configuration konfigurieren konfigurierbar einstellbar",
    "error errors failure fehler",
    "quote quotation angebot",
    "resync resynchronise resynchronize resume resumed fortsetzen",
    "block blocking blocked stuck hang hanging hangs wait waiting waits hängt hängen wartet warten",
    "times attempts attempt retries retry tries versuche versuch wiederholungen",
    "create created creating generate generated new erstellen erstellt anlegen angelegt neu neue",
    "password passwords passwort passwörter kennwort",
    "ready done finished complete completed fertig erledigt abgeschlossen",
    "mean means meaning meant bedeutet bedeuten bedeutung heißt",
    "bandwidth bandbreite throughput durchsatz mbit/s gbit/s mb/s gb/s mbps gbps",
    # related terms of the support domain: an answer names the thing, not the question's
    # word ("TCP 11104" for "which ports", "the diagnostic bundle" for "the logs")
    "port ports tcp udp firewall firewalls",
    "version versions release releases build builds",
    "logs logfile logfiles protokoll protokolle bundle bundles diagnostic diagnostics",
    "ip ips ip-adresse ip-adressen cidr subnet subnets",
    "timeout timeouts zeitüberschreitung zeitlimit",
    # English / German pairs
    "replication replicate replicated replikation replizieren repliziert",
    "encrypted encryption encrypt verschlüsselt verschlüsselung verschlüsseln",
    "key keys schlüssel",
    "user users benutzer nutzer anwender",
    "account accounts konto konten",
    "license licence licenses licences lizenz lizenzen",
    "discount discounts rabatt rabatte nachlass",
    "payment payments paid zahlung zahlungen bezahlen bezahlt",
    "card cards karte karten kreditkarte kreditkarten",
    "tenant tenants mandant mandanten",
    "attribute attributes attribut",
    "permission permissions berechtigung berechtigungen",
    "disk disks drive drives platte platten festplatte festplatten",
    "quota quotas kontingent",
    "schedule scheduled zeitplan",
    "interval intervals intervall intervalle",
    "retention aufbewahrung aufbewahrungsfrist",
    "session sessions sitzung sitzungen",
    "cancel cancelled canceled cancellation kündigen kündigung gekündigt stornieren",
    "latency latenz verzögerung",
)


def _concepts() -> dict[str, str]:
    table: dict[str, str] = {}
    for group in _SYNONYMS:
        words = [stem(normalise(w)) for w in group.split()]
        for word in words:
            table.setdefault(word, words[0])
    return table


def tokens(text: str) -> list[str]:
    """Content-word stems of ``text`` (stopwords and ask words dropped)."""
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        raw = match.group(0).lower().replace("’", "'")
        if "'" in raw:  # they're, what's, don't: the part before the apostrophe
            raw = raw.split("'", 1)[0]
        if raw in STOPWORDS or raw in ASK_WORDS:
            continue
        word = normalise(raw).strip("'._/-")
        if not word or word in STOPWORDS or word in ASK_WORDS:
            continue
        if len(word) == 1 and not word.isdigit():
            continue
        stemmed = stem(word)
        out.append(CONCEPTS.get(stemmed, stemmed))
        if any(ch in word for ch in "/._-") and CONCEPTS.get(stemmed) is None:
            # "/v2/tickets?updated_since" also says "tickets"
            for part in re.split(r"[/._-]+", word):
                if len(part) > 2 and part not in STOPWORDS and not part.isdigit():
                    stemmed = stem(part)
                    out.append(CONCEPTS.get(stemmed, stemmed))
    return out


CONCEPTS = _concepts()
