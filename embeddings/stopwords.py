"""English stop words for BM25: function words and question words carry no topic.

Lucene's 33-word list (bm25s's default) leaves "what", "how", "did", "which" in every
question, which both adds noise to BM25 and dilutes term coverage; this list is the usual
NLTK-style one plus question words and the stems of negated contractions.
"""

_WORDS = """
a about above after again against all also am an and any are aren't as at be because
been before being below between both but by can can't cannot could couldn't did didn't
do does doesn't doing don't down during each either else ever few for from further had
hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its
itself just let's may me might more most much must mustn't my myself neither no nor not
of off on once only or other ought our ours ourselves out over own same shall shan't she
she'd she'll she's should shouldn't so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those
through to too under until up upon us very was wasn't we we'd we'll we're we've were
weren't what what's whatever when when's where where's whether which while who who's
whom whose why why's will with within without won't would wouldn't yet you you'd you'll
you're you've your yours yourself yourselves
many kind type name named called
aren couldn didn doesn don hadn hasn haven isn mustn shan shouldn wasn weren won wouldn
"""

STOPWORDS_EN: frozenset[str] = frozenset(_WORDS.split())
