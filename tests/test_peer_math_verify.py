r"""Math-Verify's public test suite, ported in full as (reference, completion, peer's verdict) rows through
`reward.accuracy_reward`.

Source: huggingface/Math-Verify, tests/test_all.py at commit cf14bc47e798017458fa7f60138da640065351ce and
tests/test_yujianll.py at commit 056ad6253a41b01e49072623b7e2c88ded7d82af, read through the search tool's read_file;
the installed math-verify is 0.9.0. Every `compare_strings(gold, pred, ...)` / `verify(parse(gold), parse(pred))` case
is one row, in the file's order. Not ported, because they hold no (gold, prediction) pair: test_all.py's
`test_precision` sympy-level asserts (its one string case is ported), tests/test_timeout.py (timeouts of mocked
parsers; our worker's deadline is tested in tests/test_rewards.py), tests/test_failed_latex_span.py and
tests/test_mixed_number_extraction.py (parser return values; mixed numbers need a math-verify newer than 0.9.0),
tests/test_evaluate_model_outputs.py (a CSV script with a fake metric).

How a row is ported: gold is the reference cell as written. Our completions answer in a box, so a prediction that
holds a `\boxed{}` becomes the answer block as written (long worked predictions cut to the sentence that holds their
final box: we read only the final group of boxes, so the cut text is never read), and a prediction without a box has
the answer the peer extracts from it boxed (`said(...)`), keeping units, labels and punctuation as written. Rows whose
peer verdict is about finding an answer in unboxed text (inline math split over lines) keep the text unboxed
(`unboxed(...)`): we read boxes only, so they score 0.0 whatever they say.

The expected value is the peer's. A row where we deliberately differ gives our value and the reason (`differs`);
`test_agreement_summary` prints the counts (`pytest -s`).
"""
import math

import pytest

from helpers import peer_rows
from reward import accuracy_reward


def said(answer: str) -> str:
    """A completion whose answer block boxes `answer`."""
    return rf"<think>work</think><answer>\boxed{{{answer}}}</answer>"


def written(answer_block: str) -> str:
    """A completion whose answer block is `answer_block` as written (it holds its own box)."""
    return f"<think>work</think><answer>{answer_block}</answer>"


def unboxed(text: str) -> str:
    return f"<think>work</think><answer>{text}</answer>"


def differs(ours, why: str):
    return ours, why


COMMA_LISTS = ("boxed, math-verify's LaTeX reading takes the comma as a list ({1000, 99}); the peer reads the bare "
               "text with expression extraction, where it is a decimal comma")
PRECISION = "the peer compares at {} decimals; the reward at math-verify's default 6 (docs/rewards.md, decimals)"

NUMBERS = [  # test_number_extraction (match_types=["expr"])
    ("-5", said("-5"), 1),
    ("7425000", said("7,425,000"), 1),
    ("1000", said("1 000"), 1),
    ("1000", said("1000.0"), 1),
    ("1000.0", said("1,000.0"), 1),
    ("1000.99", said("1000,99"), 1, *differs(0, COMMA_LISTS)),
    ("1,22", said("1.22"), 1, *differs(0, COMMA_LISTS.replace("{1000, 99}", "{1, 22}"))),
    ("2.74", said(r"2,74 \$"), 1, *differs(0, COMMA_LISTS)),
    ("0.4", said(".4"), 1),
    ("1000.99", said("1,000.99"), 1),
    ("1000.99", said("1,000.99"), 1),
    ("1000.99", said(r"\$1,000.99"), 1),
    ("1000.99", said(r"1,000.99\$"), 1),
    ("1000.99", said("1,000.99€"), 1),
    ("1000.99", said("1,000.99€"), 1),
    ("1000.99", said("1,000.99m²"), 1),
    ("1000.99", said("1,000.99m²"), 1),
    ("0,111", said("0.111"), 1),
    ("2", said("AZYUK2A"), 0),
]

FRACTIONS_AND_SETS = [  # test_simple_fraction_notation, test_sets_handling
    ("10/9", said(r"\frac{10}{9}"), 1),
    ("-10/9", said(r"-\frac{10}{9}"), 1),
    ("$[0,1)$", said("[0,1)"), 1),
    ("$[0,1)$", said("[0,1)"), 1),
    ("$[0,9)$", said("[0,1)"), 0),
    ("$(0,9)$", said("[0,9)"), 0),
    ("$1$", said("-[0,1)"), 0),
]

LATEX_NOTATION = [  # test_latex_notation (match_types=["latex"])
    ("$9$", written(r"Answer \[ \boxed{9} \]"), 1),
    ("$9$", written(r"Answer $ \boxed{9} $"), 1),
    ("$9$", written(r"Answer $$ \boxed{9} $$"), 1),
    ("$9$", written(r"Answer \( \boxed{9} \)"), 1),
    ("$10$", said("(9+1)"), 1),
    ("$9$", unboxed("Answer $ \n 9 \n $"), 0),
    ("$9$", unboxed("Answer \\( \n 9 \n \\)"), 0),
    ("$9$", written("Answer \\[ \n \\boxed{9} \n \\]"), 1),
    ("$9$", written("Answer $$ \n \\boxed{9} \n $$"), 1),
    ("$10/9$", written(r"Answer $ \frac{1}{2} \$ = \boxed{\frac{10}{9}} $"), 1),
    ("$1/3$", said(r"\frac13 "), 1),
    ("$1$", said(r"\frac3{3} "), 1),
    (r"$\sqrt{3}$", said(r"\sqrt3 "), 1),
    ("$1/3$", said(r"\cfrac{1}{3} "), 1),
    ("$1/3$", said(r"\dfrac{1}{3} "), 1),
    ("$1/3$", said(r"\tfrac{1}{3} "), 1),
    ("$1/3$", said(" 1/3 "), 1),
    ("$1/3$", said(r"\left( \frac{1}{3} \right)"), 1),
    ("$1/3$", written(r"$\boxed{\frac{1}{3}}$"), 1),
    ("$1/3$", said(r"\frac{1}{3} \text{meters}"), 1),
    ("$1/3$", said(r"\frac{1}{3} \textbf{meters}"), 1),
    ("$1/3$", said(r"k = \frac{1}{3}"), 1),
    ("$1/3$", said(r"\frac{1}{3} \textbf{meters}"), 1),
]

PERCENT = [  # test_percent_notation
    (r"$28\%$", said("28 percent"), 1),
    (r"$28\%$", said("28 pct"), 1),
    (r"$28\%$", said("28 %"), 1),
    (r"$28\%$", written(r"$\boxed{28}$ %"), 1),
    (r"$28\%$", written(r"$\boxed{28}$ percent"), 1),
    (r"$28\%$", written(r"$\boxed{28}$ pct"), 1),
    (r"$28\%$", written(r"$\boxed{28 pct}"), 1),
    (r"$28\%$", written(r"$\boxed{28 percent}"), 1),
    (r"$28\%$", written(r"$\boxed{28 percentage}"), 1),
    (r"$28\%$", said("28"), 1),
    ("$0.28$", said("28"), 0),
    ("$28/100$", said("28"), 0),
    ("$28$", said("28/100"), 0),
    (r"$\frac{28}{100}$", said("28"), 0),
    (r"$28*\frac{1}{100}$", said("28"), 0),
]

PMATRIX_0_3 = "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}"
WORKED_SOLUTIONS = [  # test_latex_notation_math: predictions cut to the sentence with their final box
    ("$2-2p$", written(r"If $2-x=p$, then $x=2-p$. Thus $x-p=\boxed{2-2p}$."), 1),
    (PMATRIX_0_3, written(PMATRIX_0_3), 1),
    (r"Let's assume ... Final Answer: The final answer is $28 \%$. I hope it is correct. Note: The solution "
     r"provided is incorrect.", written(r"making for a total loss of $\boxed{28\%}$."), 1),
    (r"Therefore, $\boxed{14{,}916}$ is our answer.",
     written(r"Thus the smallest possible value for $N$ is $N = 14 {, }916$. Final Answer: The final answer is "
             r"$\boxed{14 {, }916}$. I hope it is correct."), 1),
    (r"so the sum is located between $\boxed{12\text{ and }13}$. To be more precise, $\sqrt{50}>7$.",
     written(r"is located between $\boxed{12 $ and $13 }. $ Final Answer: The final answer is \"$12 $ and $13 $\"."),
     1),
    (r"$(3, \frac{\pi}{2})$",
     written(r"Therefore, the polar coordinates are $\boxed{\left( 3, \frac{\pi}{2} \right)}.$"), 1),
    (r"$\frac{14}{3}$", written(r"$f(-2)+f(-1)+f(0)=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$"), 1),
    (r"$\text{Evelyn}$", written(r"Therefore, $\boxed{\text{Evelyn}}$ is our answer."), 1),
    (r"$90^\circ$", written(r"Hence, the angle between the lines is $\boxed{90^\circ}.$"), 1),
    (r"$3\sqrt{13}$", written(r"\begin{align*} & = \sqrt{117} = \boxed{3\sqrt{13}}. \end{align*}"), 1),
    (r"$\frac{3}{56}$", written(r"so \[p(8) = \frac{q(8) + 8}{8^2 - 1} = \boxed{\frac{3}{56}}.\]"), 1),
    ("$2$", written(r"Thus, there are $\boxed{2}$ distinct possible values for $B$."), 1),
    (r"$15\mbox{ cm}^2$", written(r"$$\frac{1}{2}\times 3 \times 10 = \boxed{15\mbox{ cm}^2}.$$"), 1),
    ("$-2,1$", written(r"Checking, we find that the only integer roots are $\boxed{-2,1}.$"), 1),
    ("$9$", written(r"Then, $129^{34}+96^{38} \equiv \boxed{9} \pmod{11}.$"), 1),
    (r"$90^\circ$", written(r"Therefore, \begin{align*} \angle BAC &= \angle BAD + \angle DAC \\ &= 50^\circ+40^\circ "
                            r"\\ &= \boxed{90^\circ}. \end{align*}"), 1),
    ("$0$", written(r"Hence, the degree of $p(x)$ (which is the constant polynomial 1) is $\boxed{0}.$"), 1),
    ("$204_5$", written(r"for a quotient of $\boxed{204_5}$. Note that in the above calculation we have used that "
                        r"$13_5$ divided by $2_5$ is $4_5$."), 1),
    ("$(6,31,-1)$", written(r"Then solving the system of equations, we find $(p,q,r) = \boxed{(6,31,-1)}.$"), 1),
    (r"$1 \pm \sqrt{19}$", written(r"By the quadratic formula, $x = \boxed{1 \pm \sqrt{19}}.$"), 1),
    (r"$3 \pm 2 \sqrt{2}$", written(r"By the quadratic formula, the roots are $x = \boxed{3 \pm 2 \sqrt{2}}.$"), 1),
    (r"$\{1\pm\sqrt{5},-2\}$", written(r"so the answer is $\boxed{\{1\pm\sqrt{5},-2\}}.$"), 1),
    ("$f(2) < f(1) < f(4)$", written(r"Hence, $\boxed{f(2) < f(1) < f(4)}.$"), 1),
    (r"$2 \sin b \cos a$",
     written("By sum-to-product,\n\\[\\sin (a + b) - \\sin (a - b) = \\boxed{2 \\sin b \\cos a}.\\]"), 1),
    (r"$\frac{\pi r}{h+r}$", written(r"Thus we have $s = x+y+z = (z+x)+y = h+r$. The answer is "
                                     r"$\boxed{\frac{\pi r}{h+r}}$."), 1),
    ("$125$ miles", written(r"The distance is $\boxed{125\textnormal{ miles}}.$"), 1),
    (r"$[-1, -\frac{1}{2}) \cup (-\frac{1}{2}, 0) \cup (0, 1) \cup (1, \infty)$",
     written(r"The solution set is $\boxed{[-1, -\tfrac12) \cup (-\tfrac12, 0) \cup (0, 1) \cup (1, \infty)}.$"), 1),
    (r"$\sqrt{2}+\sqrt{5}$", written(r"The answer is $\boxed{\sqrt 2+\sqrt 5}$"), 1),
    (r"$\frac{9}{4}\pi$", written(r"Therefore $\boxed{\frac94\pi}$."), 1),
    (r"x \in \boxed{\{-1\} \cup [0,7)}.$", written(r"x \in \boxed{\{-1\} \cup [0,7)}.$"), 1),
]

RELATIONS = [  # test_relations_math (match_types=["latex"])
    ("$x >= 5$", said(r"x \geq 5"), 1),
    ("$x < 3$", said(r"x \lt 3"), 1),
    (r"$x \leq 2$", said("x <= 2"), 1),
    ("$x > 5$", said(r"x \gt 5"), 1),
    ("$x != 3$", said(r"x \neq 3"), 1),
    ("$x > 5$", said("x < 5"), 0),
    (r"$x \geq 5$", said(r"x \leq 5"), 0),
    (r"$x \neq 5$", said("x != 5"), 1),
    (r"$x \leq 5$", said(r"5 \geq x"), 1),
    (r"$x \geq 5$", said(r"5 \leq x"), 1),
    ("$x = 11$", said("x = 5+5+1 = 7 =11"), 1),
    ("$7 = 11a+c$", said("11a+c"), 0),
    ("$x = 11$", said("x = 5+5+1 = 7 =11"), 1),
    ("$x = 1/3$", said(r"x = 5+5+1 = 1/3 \approx 11"), 1),
    ("$11$", said("x=11"), 1),
    ("$11$", said(r"x\approx11"), 1),
    ("$1/3$", said(r"x=1/3\approx1.3"), 1),
    ("$x < 1$", said("-x > -1"), 1),
    ("$x < 1$", said("x > -1"), 0),
    ("$x <= 1$", said("-x >= -1"), 1),
    ("$a +3z = 0$", said("0"), 0),
    (r"$1 = \zzz = x = 0$", said("0"), 1),
    ("$2x + z = 1$", said("1"), 0),
    ("$a^2 + b = 0$", said("0"), 0),
    ("$k=1$", said("1"), 1),
    ("$1$", said("k=1"), 1),
    ("$z = 1 + 1 = 2$", said("z = 3+3 = 2"), 1),
    ("$z = 1 + 1 = 2$", said("z = 3+3 = 2"), 1),
    ("$2x+4y-3=0$", said(r"y=-\frac{1}{2}x+\frac{3}{4}"), 1),
    ("$x^2/4 + y^2/3 = 1$", said("x^2/16 + y^2/12 = 1/4"), 1),
]

MATRICES = [  # test_matrix_extraction
    ("$189$", written("**Final Answer**\n\\boxed{189}\n</think>\n\nThus, the area of the trapezoid is "
                      "\\(\\boxed{189}\\) square centimeters."), 1),
    (r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$", said(r" \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} "), 1),
    (r"$\begin{bmatrix}0 & 0 \\0 & 0\end{bmatrix}$", said(r" \begin{pmatrix}0 & 0 \\0 & 0\end{pmatrix} "), 1),
    (r"$\begin{pmatrix}1 & 2 \\3 & 4\end{pmatrix}$", said(r" \left[\begin{array}{cc}1 & 2 \\3 & 4\end{array}\right] "),
     1),
    (r"$\begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix}$",
     said(r" \begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix} "), 1),
    (r"$\begin{pmatrix}6 & 8 \\ 10 & 12\end{pmatrix}$",
     said(r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix} + \begin{pmatrix}5 & 6 \\ 7 & 8\end{pmatrix}"), 1),
    (r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
     said(r"\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}"), 1),
    (r"$\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}$", said(r"\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}"), 0),
    # test_precision's one string case: compared at 4 decimals by the peer
    (r"$\frac{1}{3}$", said("0.3333"), 1, *differs(0, PRECISION.format(4) + "; math-verify's own default says 0")),
]

QWEN_PARSER = [  # test_complex_math_expressions ("Tests from qwen parser"), with the peer's precision
    (r"$\frac{1}{12}$", said("0.0833333333333333"), 1),
    (r"$(1,\frac{9}{2})$", said("(1,4.5)"), 1),
    (r"$\frac{x+2}{7}$", said(r"\frac{x}{7}+\frac{2}{7}"), 1),
    (r"$\tan^2(y)+1$", said(r"\sec^2(y)"), 1),
    # the peer's string as in its source (not raw): `-\\\frac` holds a form feed, in gold and prediction alike
    ("$\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix}$",
     said("\\begin{pmatrix}-\\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix}"), 1),
    (r"$\begin{pmatrix}\frac{1}{3\sqrt[3]{x}^2}&0&0\\0&1&0\\-\sin(x)&0&0\\\end{pmatrix}$",
     said(r"\begin{pmatrix}\frac{1}{3x^{2/3}}&0&0\\0&1&0\\-\sin(x)&0&0\end{pmatrix}"), 1),
    ("$34x+45y-20z+100=0$", said("-34x-45y+20z-100=0"), 1),
    (r"$(\begin{pmatrix}\frac{1}{3}\\ \frac{1}{5} \end{pmatrix})$", said(r"\begin{pmatrix}0.33\\0.2 \end{pmatrix}"), 1,
     *differs(0, PRECISION.format(2))),
    (r"$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}$", said(r"\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{2\sqrt{33}+15}"),
     1),
    ("$(a+5)(b+2)$", said("(+5)(b+2)"), 0),
    ("$2$", said(r"\frac{1+\sqrt{5}}{2}"), 0),
    ("$4$", said(r"\frac{34}{16}+\frac{\sqrt{1358}}{16}"), 0),
    (r"$1\sqrt{19}$", said("1"), 0),
    (r"$(\frac{3}{5},\frac{8}{3}]$", said("(0.6,2.6667]"), 1, *differs(0, PRECISION.format(2))),
    ("$x+2n+1$", said("x+1"), 0),
]

EXTRACTION_EDGE_CASES = [  # test_math_extraction_edge_cases: unboxed predictions with the answer the peer reads boxed
    ("$2/3$", said("2/3"), 1),
    ("$12$", said("12"), 1),
    ("$(7,6)$", said("(7, 6)"), 1),
    ("$[0,1)$", said("(0, 1)"), 0),
    ("$[-3,2]$", written(r"which is $\boxed{(-\infty, -3] \cup [2, \infty)}$. Final Answer: The final answer is "
                         r"$(-\infty, -3] \cup [2, \infty)$. I hope it is correct."), 0),
    ("$16386.20$", written(r"Rounded to the nearest cent, Paula's investment is worth $\boxed{\$16,\!386.20}$ at the "
                           r"end of the 5-year period. The answer is $16,\!386.20$."), 1),
    ("$120$", said("120"), 1),
    ("12000023", said("12,000,023"), 1),
    ("$14916$", written(r"Final Answer: The smallest possible value of $N$ is $\boxed{14{,}916}$. I hope it is "
                        r"correct."), 1),
    (r"$\\left(\\frac{1}{5},\\frac{1}{6}\\right)$",
     written(r"Thus, $(p,q) = \boxed{\left( \frac{1}{5}, \frac{1}{6} \right)}.$ Final Answer: The final answer is "
             r"$\left( \frac{1}{5}, \frac{1}{6} \right)$."), 1),
    (r"$\\left(\\frac{4}{5},\\frac{1}{5}\\right)$",
     written(r"Thus, $(t,u) = \boxed{\left( \frac{4}{5}, \frac{1}{5} \right)}.$"), 1),
    (r"$\frac{5\sqrt{42}}{27}$", said(r"\frac{10\sqrt{10.5}}{27}"), 1),
    ("$16386.17$", written(r"Rounded to the nearest cent, Paula's investment is worth $\boxed{\$16386.17}$ after 5 "
                           r"years."), 1),
    (r"Solving for $x$ yields $x=1/5$, or $\boxed{20}$ percent.",
     written(r"$$\frac{1 }{5 }=\boxed{20 \%}. $$ Final Answer: The final answer is $20 \%$."), 1),
]

ADDITIONAL_CASES = [  # test_math_extraction_edge_cases (second table) and test_math_extraction_additional_cases
    (r"$less than or equal to zero between its roots. Thus, the solution in interval notation is:\n\n"
     r"\\[ \\boxed{[-2, 7]} \\]$", said(r"x \in [-2,7]"), 1),
    ("$3$", said("3"), 1),
    ("$19$", said("19"), 1),
    (r"$(\tfrac{27}{8},\tfrac{15}{8})$", written(r"Therefore, the point where the line intersects $\overline{CD}$ is "
                                                r"$\boxed{(0, 0)}$."), 0),
    ("$34$", said("34"), 1),
    (r"$\\left( \\frac{4}{3}, -\\frac{1}{3} \\right)$",
     written(r"Thus, $(t,u) = \boxed{\left( \frac{4}{3}, -\frac{1}{3} \right)}.$"), 1),
    ("$(3,1)$", said("{1,3}"), 0),
    ("$(1,3)$", said("{1,3}"), 1),
    ("$100%$", said("100%"), 1),
    ("$16386.16$", written(r"So, Paula's investment is worth approximately $\boxed{16386.16}$ dollars at the end of "
                           r"the 5 years. Final Answer: The final answer is 16386.16."), 1),
    ("$5866608$", written(r"So, the sum of the integers on Camy's list is $\boxed{5866608}$."), 1),
    ("$14400$", written(r"So the total number of distinguishable ways is $1 \times 5! \times 5! = 120 \times 120 = "
                        r"\boxed{14400}$."), 1),
    ("$14916$", said("14{,}916"), 1),
    (r"$20\%$", written(r"$$\frac{|C|}{|A| + |C|} \times 100\% = \boxed{20\%}$$ Final Answer: The final answer is "
                         r"$20\%$."), 1),
    ("$7.78$", said("7.78"), 1),
    ("$100$", said("100"), 1),
    ("$x-2y+z-1=0$", written(r"$$-1(x-1)+2(y-1)+1(z-1)=0\Rightarrow\boxed{x-2y+z-1=0}.$$"), 1),
    ("$10455$", said("10,455"), 1),
    ("$[-4,0]$",
     written(r"Thus, the values of \( k \) for which the quadratic has real roots are: \[ \boxed{[-4, 0]} \]"), 1),
    (r"Therefore, $(A, B) = \boxed{(-6, 10)}.$", said("(-6, 10)"), 1),
    ("$1112112_3$", written(r"Thus, the product \( ab \) expressed in the base-three number system is "
                            r"\(\boxed{1112122_3}\)."), 0),
    (r"\(\boxed{\text{C}}\).", written(r"$\boxed{\text{(C)}}.$"), 1),
    (r" So the answer is: \[ \boxed{11111111100} \]", written(r"is $\boxed{11,\! 111,\! 111,\! 100}$"), 1),
    (r" So the answer is: \[ \boxed{32349} \]", written(r"is $\boxed{32,\! 349}$"), 1),
    (r" So the answer is: \[ \boxed{32349} \]", written(r"is $\boxed{32, 349}$"), 0),
    (r"Thus, the domain of the function \( f(x) \) is: \[ \boxed{(2, 12) \cup (12, 102)} \]",
     written(r"Thus, the answer is $x \in \boxed{(2,12) \cup (12,102)}$"), 1),
    (r"$\text{E}$", said("E"), 1),
    (r"$\boxed{1}\boxed{2}$", written(r"$\boxed{1,2}$"), 1),
    (r"This factors as $(n - 1)(n + 2) = 0,$ so the solutions are $n = \boxed{1,-2}.$",
     r"<think> So the integers n for which f(n) = n are 1 and -2. **Final Answer** The integers are \boxed{-2} and "
     r"\boxed{1}. </think> Thus, the integers \( n \) such that \( f(n) = n \) are: \[ \boxed{-2} \quad \text{and} "
     r"\quad \boxed{1}. \]", 1),
]

SET_RELATION_AND_PRECISION = [  # test_set_rel_assymetry, test_float_precision, test_sqrt_precision, test_symbols
    (r"$-2 \\le x \\le 7$", said(r"x \in [-2,7]"), 1),  # allow_set_relation_comp=True
    (r"$-2 \\le x \\le 7$", said(r"x \in [-2,7]"), 1),  # allow_set_relation_comp=False
    (r"$x \in [-2,7]$", said(r"-2 \\le x \\le 7"), 1,  # allow_set_relation_comp=True
     *differs(0, "the peer passes allow_set_relation_comp=True; the reward keeps math-verify's default False, "
                 "under which the same row expects 0 (next row)")),
    (r"$x \in [-2,7]$", said(r"-2 \\le x \\le 7"), 0),  # allow_set_relation_comp=False
    (f"{math.sqrt(17):.15f}", said(r"\sqrt{17}"), 1),  # precision=5
    ("$4$", said(r"4\sqrt{2}"), 0),  # precision=5
    ("$\text{13}$", said("13"), 0),  # "\t" is a tab here, as in the peer's source
]

TRAILING_PUNCTUATION = [  # test_trailing_punctuation (newer than math-verify 0.9.0; the reward reads boxes)
    (r"$\frac{1}{3}$", said(r"\frac{1}{3}."), 1),
    (r"$\frac{1}{3}$", written(r"The answer is $\boxed{\frac{1}{3}.}$"), 1),
    (r"$\frac{1}{3}$", written(r"$$\boxed{\frac{1}{3}.}$$"), 1),
    (r"$\frac{1}{3}$", written(r"\[\boxed{\frac{1}{3}.}\]"), 1),
    (r"$\frac{1}{3}$", said(r"\frac{1}{3},"), 1),
    (r"$\frac{1}{3}$", said(r"\frac{1}{3} ."), 1),
    (r"$\sqrt{2}$", said(r"\sqrt{2}."), 1),
    ("$(1,2)$", said("(1,2)."), 1),
    ("$5$", said(r"5 \text{ cm}."), 1),
    ("$42$", said("42."), 1),
    ("$2$", said("2^{10}."), 0),
    ("$1$", written(r"The answer is $\boxed{1/3.}$"), 0),
    ("$1, 2, 3$", said("1, 2, 3, ..."), 0),
]

YUJIANLL = [  # tests/test_yujianll.py (parse and verify with default settings)
    ("$n=1, 2, 3$", said("n=1, 2, 3"), 1),
    ("$n=2, 3, 4$", said("n=1, 2, 3"), 0),
    ("$D = (0, 1)$", said("D = (0, 1)"), 1),
    ("$D = (0, 1)$", said("D = (0, 1.5)"), 0),
    (r"$F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}$", said(r"F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}"), 0),
    (r"$F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}$", said(r"F_n = \sum_{k=0}^{n-1} F_{n-k-1} F_k"), 1),
    ("$19, 46, and 82$", said(r"19, 46, \text{ and } 82"), 1),
    ("$19, 46, and 82$", said("21, 36, and 82"), 0),
    (r"$1 - \frac{1}{\mathrm{e}}$", said(r"1 - \frac{1}{\mathrm{e}}"), 1),
    (r"$1 - \frac{1}{\mathrm{e}}$", said(r"1 + \frac{1}{\mathrm{e}}"), 0),
    (r"$\pm 2021$", said("2021"), 0),
    (r"$\pm 2021$", said("{-2021, 2021}"), 1),
    ("$12:00$", said("1:00"), 0),
    ("$12:00$", said("12:00"), 1),
]

TABLES = {"numbers": NUMBERS, "fractions_and_sets": FRACTIONS_AND_SETS, "latex_notation": LATEX_NOTATION,
          "percent": PERCENT, "worked_solutions": WORKED_SOLUTIONS, "relations": RELATIONS, "matrices": MATRICES,
          "qwen_parser": QWEN_PARSER, "extraction_edge_cases": EXTRACTION_EDGE_CASES,
          "additional_cases": ADDITIONAL_CASES, "set_relation_and_precision": SET_RELATION_AND_PRECISION,
          "trailing_punctuation": TRAILING_PUNCTUATION, "yujianll": YUJIANLL}


ROWS, IDS = peer_rows(TABLES)


@pytest.mark.parametrize("table, index, solution, completion, peer, ours, why", ROWS, ids=IDS)
def test_math_verify_suite(table, index, solution, completion, peer, ours, why):
    assert accuracy_reward([completion], solution=[solution]) == [float(ours)]


def test_agreement_summary():
    differing = [r for r in ROWS if r[4] != r[5]]
    assert all(r[6] for r in differing)  # every difference says why
    print(f"\nMath-Verify suite: {len(ROWS)} ported, {len(ROWS) - len(differing)} agree, {len(differing)} differ")
