"""The curated tech lexicon: words of code review that CMUdict lacks or reads the wrong way.

Each entry lists its readings ranked, the canonical (most usual) reading first, then what it
sounds like, so a reviewer of this table can check a count without a phonetics course.
Keys are lower case unless case decides the reading (``IT`` the department is not ``it``).
Lookup order in :mod:`harness.form.count`: exact case first, then lower case.
"""
from __future__ import annotations

# term   readings (canonical first)   # how it is said
_TABLE = """
sql          3 2    # S-Q-L | sequel
json         2      # jay-son
yaml         2      # yam-ul
yml          2      # yam-ul (the file extension)
toml         2      # tom-ul
gif          1      # gif
jpeg         2      # jay-peg
jpg          2      # jay-peg
png          3 1    # P-N-G | ping
svg          3      # S-V-G
gui          2 3    # gooey | G-U-I
nasa         2      # na-sa
ascii        2      # as-key
crud         1      # crud
cors         1      # cors
ajax         2      # a-jax
saas         1      # sass
oauth        2      # oh-auth
url          3 1    # U-R-L | earl
uri          3      # U-R-I
api          3      # A-P-I
apis         3      # A-P-Is
ide          3      # I-D-E
id           2 1    # I-D
ids          2      # I-Ds
io           2      # I-O
ui           2      # U-I
ux           2      # U-X
os           2      # O-S
ai           2      # A-I
ml           2      # M-L
llm          3      # L-L-M
gpu          3      # G-P-U
cpu          3      # C-P-U
tpu          3      # T-P-U
ram          1      # ram
rom          1      # rom
eta          3 2    # E-T-A | ay-ta
eol          3      # E-O-L
eof          3      # E-O-F
uuid         4 2    # U-U-I-D | you-id
guid         2 4    # goo-id | G-U-I-D
utf          3      # U-T-F
aws          5      # A-double-u-S
todo         2      # to-do
todos        2      # to-dos
fixme        2      # fix-me
wip          1 3    # wip | W-I-P
lgtm         4      # L-G-T-M
nit          1      # nit
nits         1      # nits
nan          1      # nan
inf          1 3    # inf | infinity
regex        2      # reg-ex
regexes      3      # reg-ex-es
regexp       2      # reg-exp
enum         2      # ee-num
enums        2      # ee-nums
async        2      # ay-sync
await        2      # a-wait
kwargs       2 4 1  # kw-args | keyword args | quargs
args         1      # args
argv         2      # arg-vee
argc         2      # arg-see
stdout       3 4    # standard out | S-T-D out
stdin        3 4    # standard in | S-T-D in
stderr       4 5    # standard error | S-T-D error
stdlib       3      # standard lib
sudo         2      # sue-doe
kubectl      3 5    # kube-control | kube-C-T-L
kubernetes   4      # koo-ber-net-eez
k8s          2 4    # kay-eights | kubernetes
i18n         4 8    # I-eighteen-N | internationalization
l10n         4      # L-ten-N
a11y         4      # A-eleven-Y
numpy        2      # num-pie
scipy        2      # sigh-pie
pytest       2      # pie-test
pytorch      2      # pie-torch
pypi         3      # pie-P-I
pydantic     3      # pie-dan-tic
pyyaml       3      # pie-yam-ul
pyproject    3      # pie-project
py           1      # pie
js           2      # J-S
ts           2      # T-S
md           2      # M-D
txt          1      # text
sh           2      # S-H
cfg          2 3    # config | C-F-G
ini          2      # in-ee
csv          3      # C-S-V
tsv          3      # T-S-V
html         4      # H-T-M-L
css          3      # C-S-S
http         4      # H-T-T-P
https        5      # H-T-T-P-S
ssh          3      # S-S-H
ssl          3      # S-S-L
tls          3      # T-L-S
cli          3      # C-L-I
sdk          3      # S-D-K
npm          3      # N-P-M
pip          1      # pip
venv         2      # vee-env
virtualenv   4      # virtual-env
conda        2      # con-da
django       2      # jang-go
flask        1      # flask
jinja        2      # jin-ja
nginx        3      # engine-X
mypy         2      # my-pie
ruff         1      # ruff
linter       2      # lint-er
readme       2      # read-me
changelog    2      # change-log
dockerfile   3      # docker-file
makefile     2      # make-file
github       2      # git-hub
gitlab       2      # git-lab
repo         2      # rep-oh
repos        2      # rep-ohs
src          1      # source
dst          1      # dest
tmp          1      # temp
temp         1      # temp
env          2 1    # en-vee | env
envs         2      # en-vees
init         2      # in-it
repr         2      # rep-per
impl         2      # imp-ul
param        2      # pa-ram
params       2      # pa-rams
config       2      # con-fig
configs      2      # con-figs
dict         1      # dict
dicts        1      # dicts
str          1      # stir
int          1      # int
ints         1      # ints
bool         1      # bool
bools        1      # bools
len          1      # len
func         1      # funk
funcs        1      # funks
fn           2      # F-N
exec         2      # ex-ec
eval         2      # ee-val
ctx          2      # context
msg          2      # message
msgs         2      # messages
req          1 2    # rec | request
resp         1 2    # resp | response
res          1      # res
err          1      # err
errs         1      # errs
idx          2      # index
ptr          2      # pointer
buf          1      # buff
num          1      # num
nums         1      # nums
obj          1 2    # obj | object
val          1      # val
vals         1      # vals
var          1      # var
vars         1      # vars
attr         2      # at-ter
attrs        2      # at-ters
auth         1      # auth
admin        2      # ad-min
app          1      # app
apps         1      # apps
db           2      # D-B
dir          1      # dir
dirs         1      # dirs
doc          1      # doc
docs         1      # docs
docstring    2      # doc-string
docstrings   2      # doc-strings
dev          1      # dev
prod         1      # prod
def          1      # def
lib          1      # lib
libs         1      # libs
pkg          3 2    # P-K-G | package
util         2      # you-til
utils        2      # you-tils
cmd          3 2    # C-M-D | command
cmds         3      # C-M-Ds
conf         1      # conf
conftest     2      # conf-test
dtype        2      # D-type
dtypes       2      # D-types
ndarray      3      # N-D-array
datetime     2      # date-time
timestamp    2      # time-stamp
namespace    2      # name-space
boolean      3      # boo-lee-an
tuple        2      # tu-ple
tuples       2      # tu-ples
mutex        2      # mew-tex
lambda       2      # lam-da
lambdas      2      # lam-das
iter         2      # it-er
iterable     4      # it-er-a-ble
iterables    4      # it-er-a-bles
iterator     4      # it-er-a-tor
callable     3      # call-a-ble
callables    3      # call-a-bles
mutable      3      # mew-ta-ble
immutable    4      # im-mew-ta-ble
serializer   5      # se-ri-al-iz-er
deserialize  5      # de-se-ri-al-ize
getter       2      # get-ter
setter       2      # set-ter
getattr      3      # get-at-ter
setattr      3      # set-at-ter
hasattr      3      # has-at-ter
isinstance   4      # is-in-stance
subclass     2      # sub-class
dataclass    3      # da-ta-class
dataclasses  4      # da-ta-class-es
dataframe    3      # da-ta-frame
localhost    3      # lo-cal-host
hostname     2      # host-name
username     3      # user-name
filename     2      # file-name
filepath     2      # file-path
pathlib      2      # path-lib
asyncio      4      # ay-sync-I-O
json5        3      # jay-son-five
gzip         2      # G-zip
zip          1      # zip
tar          1      # tar
cron         1      # cron
sqlite       3 4    # sequel-lite | S-Q-L-ite
postgres     2      # post-gres
postgresql   5 4    # post-gres-Q-L | post-gres-sequel
mysql        4 3    # my-S-Q-L | my-sequel
redis        2      # red-iss
graphql      4      # graph-Q-L
grpc         4      # G-R-P-C
rpc          3      # R-P-C
jwt          5 1    # J-double-u-T | jot
xml          3      # X-M-L
yyyy         4      # Y-Y-Y-Y
e.g.         4      # for example
i.e.         2      # that is
etc.         4      # et cetera
etc          4      # et cetera
vs.          2      # versus
vs           2      # versus
w/           1      # with
w/o          2      # without
c++          3      # C-plus-plus
c#           2      # C-sharp
f#           2      # F-sharp
.net         2      # dot-net
ok           2      # oh-kay
okay         2      # oh-kay
"""

# Two-letter words that stay words even in capitals ("DO NOT MERGE"); any other two-letter
# capitalised piece is spelled (OS, ID, PR).
CAPS_WORDS = frozenset(
    "a an am as at be by do go he if in is it me my no of oh on or so to up us we".split()
)

# Letter names, for spelled acronyms and single-letter identifiers: only W has more than one.
LETTER_SYLLABLES = {chr(c): 1 for c in range(ord("a"), ord("z") + 1)}
LETTER_SYLLABLES["w"] = 3


def _parse(table: str) -> dict[str, tuple[int, ...]]:
    entries: dict[str, tuple[int, ...]] = {}
    for raw in table.strip().splitlines():
        fields = raw.split("#", 1)[0].split()
        if fields:
            entries[fields[0]] = tuple(int(n) for n in fields[1:])
    return entries


LEXICON: dict[str, tuple[int, ...]] = _parse(_TABLE)

# Spoken operators: read aloud only when they stand between two words or numbers, or alone in
# backticks (`!=`). - and / are read only as arithmetic: standing alone between two numbers or
# single letters (x - y, k / 4); anywhere else they are a dash or a slash, and silent.
OPERATORS: dict[str, tuple[int, ...]] = {
    "==": (2,), "===": (4, 3), "=": (2,), "!=": (3,), "!==": (5,),    # triple equals | strict equals
    "->": (2,), "=>": (2,), "&&": (1,), "||": (1,), "&": (1,),
    "+": (1,), "+=": (3,), "-=": (4,), "*=": (3,), "/=": (4,), "*": (1,),
    "<": (2,), ">": (3,), "<=": (6,), ">=": (7,), "%": (2,),
    "-": (2,), "/": (4, 2),                                              # minus; divided by | over
}

# Operators glued to their operand: !done "not done", count++ "count plus plus", --i "minus
# minus i" (but not a flag, --verbose: count._ATTACHED says which are glued).
ATTACHED_OPERATORS: dict[str, tuple[int, ...]] = {"!": (1,), "++": (2,), "--": (4,)}
