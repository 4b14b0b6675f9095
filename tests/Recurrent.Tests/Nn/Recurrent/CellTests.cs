// Unit tests of RnnCell, LstmCell and GruCell: the tutorial's hand-computed ReLU example,
// parameters and initialisation, batched/unbatched shapes, default states, printed form, and
// the equations checked against a hand-written float64 loop.
using Recurrent.Nn;

namespace Recurrent.Tests.Nn.Recurrent;

public class CellTests
{
    private static readonly double[][] TutorialInputs = { new[] { 1.0, 2 }, new[] { 2.0, 0 }, new[] { 3.0, 1 }, new[] { -1.0, -5 } };

    [Fact]
    public void TutorialReluWorkedExample_RnnCell_Gives_5_8_16_18()
    {
        var cell = new RnnCell(2, 1, bias: false, nonlinearity: "relu");
        cell.LoadStateDict(new Dictionary<string, Tensor>
        {
            ["weight_ih"] = Tensor.FromArray(new float[] { -1, 3 }, 1, 2),
            ["weight_hh"] = Tensor.FromArray(new float[] { 2 }, 1, 1),
        });
        Tensor? h = Tensor.Zeros(1, 1);
        var outs = new List<double>();
        foreach (var x in TutorialInputs)
        {
            h = cell.Forward(Tensor.FromArray(x.Select(v => (float)v).ToArray(), 1, 2), h);
            outs.Add(h.Item<float>());
        }
        Assert.Equal(new double[] { 5, 8, 16, 18 }, outs);
    }

    [Fact]
    public void ParameterNamesShapesAndInitialisation()
    {
        var gen = new Generator(7);
        foreach (var (cell, gates) in new (RecurrentCellBase, int)[]
                 { (new RnnCell(3, 5, generator: gen), 1), (new LstmCell(3, 5, generator: gen), 4), (new GruCell(3, 5, generator: gen), 3) })
        {
            var ps = cell.NamedParameters().ToList();
            Assert.Equal(new[] { "weight_ih", "weight_hh", "bias_ih", "bias_hh" }, ps.Select(p => p.Name));
            Assert.Equal(new[] { gates * 5, 3 }, ps[0].Parameter.Shape);
            Assert.Equal(new[] { gates * 5, 5 }, ps[1].Parameter.Shape);
            Assert.Equal(new[] { gates * 5 }, ps[2].Parameter.Shape);
            double k = 1 / Math.Sqrt(5);
            foreach (var (_, p) in ps)
            {
                var v = p.ToArray<float>();
                Assert.All(v, x => Assert.InRange(x, -k, k));
                Assert.True(v.Distinct().Count() > v.Length / 2, "initialisation is not random");
                Assert.True(p.RequiresGrad);
            }
        }
        var noBias = new GruCell(3, 5, bias: false);
        Assert.Equal(new[] { "weight_ih", "weight_hh" }, noBias.NamedParameters().Select(p => p.Name));
        Assert.Null(noBias.BiasIh);
        Assert.Equal(new[] { "weight_ih", "weight_hh" }, noBias.StateDict().Keys);
    }

    [Fact]
    public void ToStringAndTypeNameAsPyTorch()
    {
        Assert.Equal("LSTMCell(4, 4)", new LstmCell(4, 4).ToString());
        Assert.Equal("GRUCell(3, 7, bias=False)", new GruCell(3, 7, bias: false).ToString());
        Assert.Equal("RNNCell(4, 4)", new RnnCell(4, 4).ToString());
        // PyTorch's RNNCellBase.extra_repr formats the string without quotes.
        Assert.Equal("RNNCell(4, 4, bias=False, nonlinearity=relu)", new RnnCell(4, 4, bias: false, nonlinearity: "relu").ToString());
        Assert.Equal("RNNCell", new RnnCell(1, 1).TypeName);
        Assert.Equal("LSTMCell", new LstmCell(1, 1).TypeName);
        Assert.Equal("GRUCell", new GruCell(1, 1).TypeName);
    }

    [Fact]
    public void UnbatchedAndBatchedShapesAndDefaultStates()
    {
        var rnn = new RnnCell(3, 4);
        var lstm = new LstmCell(3, 4);
        var gru = new GruCell(3, 4);
        var xb = Tensor.Randn(new[] { 2, 3 }, generator: new Generator(1));
        var xu = xb.Select(0, 1);
        Assert.Equal(new[] { 2, 4 }, rnn.Forward(xb).Shape);
        Assert.Equal(new[] { 4 }, rnn.Forward(xu).Shape);
        Assert.Equal(new[] { 4 }, gru.Forward(xu).Shape);
        var (h, c) = lstm.Forward(xu);
        Assert.Equal(new[] { 4 }, h.Shape);
        Assert.Equal(new[] { 4 }, c.Shape);
        // The unbatched result is the batched one's row; null state = zeros.
        AssertClose(gru.Forward(xb).Select(0, 1), gru.Forward(xu), 0);
        AssertClose(gru.Forward(xb, Tensor.Zeros(2, 4)), gru.Forward(xb), 0);
        var (h2, c2) = lstm.Forward(xb, (Tensor.Zeros(2, 4), Tensor.Zeros(2, 4)));
        var (h3, c3) = lstm.Forward(xb);
        AssertClose(h2, h3, 0);
        AssertClose(c2, c3, 0);
        AssertClose(h3.Select(0, 1), h, 0);
        AssertClose(c3.Select(0, 1), c, 0);
    }

    [Fact]
    public void EquationsMatchAHandWrittenLoop()
    {
        var gen = new Generator(3);
        int inSize = 3, hs = 2, n = 2;
        var x = Tensor.Randn(new[] { n, inSize }, DType.Float64, gen);
        var h = Tensor.Randn(new[] { n, hs }, DType.Float64, gen);
        var c = Tensor.Randn(new[] { n, hs }, DType.Float64, gen);
        var lstm = new LstmCell(inSize, hs, dtype: DType.Float64, generator: gen);
        var gru = new GruCell(inSize, hs, dtype: DType.Float64, generator: gen);
        var (lh, lc) = lstm.Forward(x, (h, c));
        var gh = gru.Forward(x, h);
        for (int b = 0; b < n; b++)
            for (int j = 0; j < hs; j++)
            {
                double Pre(RecurrentCellBase m, int gate) =>
                    Dot(m.WeightIh, gate * hs + j, x, b) + m.BiasIh!.GetDouble(gate * hs + j)
                    + Dot(m.WeightHh, gate * hs + j, h, b) + m.BiasHh!.GetDouble(gate * hs + j);
                double i = Sig(Pre(lstm, 0)), f = Sig(Pre(lstm, 1)), g = Math.Tanh(Pre(lstm, 2)), o = Sig(Pre(lstm, 3));
                double cn = f * c.GetDouble(b, j) + i * g;
                Assert.Equal(cn, lc.GetDouble(b, j), 12);
                Assert.Equal(o * Math.Tanh(cn), lh.GetDouble(b, j), 12);

                double r = Sig(Pre(gru, 0)), z = Sig(Pre(gru, 1));
                double nn = Math.Tanh(Dot(gru.WeightIh, 2 * hs + j, x, b) + gru.BiasIh!.GetDouble(2 * hs + j)
                    + r * (Dot(gru.WeightHh, 2 * hs + j, h, b) + gru.BiasHh!.GetDouble(2 * hs + j)));
                Assert.Equal((1 - z) * nn + z * h.GetDouble(b, j), gh.GetDouble(b, j), 12);
            }

        static double Sig(double v) => 1 / (1 + Math.Exp(-v));
        static double Dot(Tensor w, int row, Tensor v, int b)
        {
            double s = 0;
            for (int k = 0; k < w.Size(1); k++) s += w.GetDouble(row, k) * v.GetDouble(b, k);
            return s;
        }
    }

    [Fact]
    public void CellErrorsUsePyTorchWording()
    {
        var rnn = new RnnCell(4, 3);
        var lstm = new LstmCell(4, 3);
        Assert.Contains("input has inconsistent input_size: got 3 expected 4", Assert.ThrowsAny<ArgumentException>(() => rnn.Forward(Tensor.Zeros(2, 3))).Message);
        Assert.Contains("RNNCell: Expected input to be 1D or 2D, got 3D instead", Assert.ThrowsAny<ArgumentException>(() => rnn.Forward(Tensor.Zeros(1, 2, 4))).Message);
        Assert.Contains("RNNCell: Expected hidden to be 1D or 2D, got 3D instead", Assert.ThrowsAny<ArgumentException>(() => rnn.Forward(Tensor.Zeros(2, 4), Tensor.Zeros(1, 2, 3))).Message);
        Assert.Contains("Input batch size 2 doesn't match hidden0 batch size 5", Assert.ThrowsAny<ArgumentException>(() => rnn.Forward(Tensor.Zeros(2, 4), Tensor.Zeros(5, 3))).Message);
        Assert.Contains("hidden0 has inconsistent hidden_size: got 4, expected 3", Assert.ThrowsAny<ArgumentException>(() => rnn.Forward(Tensor.Zeros(2, 4), Tensor.Zeros(2, 4))).Message);
        Assert.Contains("hidden1 has inconsistent hidden_size: got 2, expected 3",
            Assert.ThrowsAny<ArgumentException>(() => lstm.Forward(Tensor.Zeros(2, 4), (Tensor.Zeros(2, 3), Tensor.Zeros(2, 2)))).Message);
        Assert.Contains("LSTMCell: Expected hx[1] to be 1D or 2D, got 3D instead",
            Assert.ThrowsAny<ArgumentException>(() => lstm.Forward(Tensor.Zeros(2, 4), (Tensor.Zeros(2, 3), Tensor.Zeros(1, 2, 3)))).Message);
        Assert.Contains("Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'.", Assert.ThrowsAny<ArgumentException>(() => new RnnCell(2, 2, nonlinearity: "gelu")).Message);
        Assert.Contains("does not match weight dtype", Assert.ThrowsAny<ArgumentException>(() => rnn.Forward(Tensor.Zeros(new[] { 2, 4 }, DType.Float64))).Message);
    }

    internal static void AssertClose(Tensor expected, Tensor actual, double tol)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var e = expected.Detach().Double().ToArray<double>();
        var a = actual.Detach().Double().ToArray<double>();
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= tol, $"element {i}: expected {e[i]:R}, got {a[i]:R}");
    }

    // test_RNN_cell_forward_zero_hidden_size: cells of hidden size 0 run and give (batch, 0), with a backward.
    [Fact]
    public void CellsOfHiddenSizeZero_GiveEmptyStates_AsPyTorch()
    {
        var x = Tensor.Randn([3, 10], generator: new Generator(1)).RequiresGrad_();
        foreach (var cell in new Module[] { new RnnCell(10, 0), new RnnCell(10, 0, nonlinearity: "relu"), new GruCell(10, 0) })
        {
            var h = cell is RnnCell r ? r.Forward(x) : ((GruCell)cell).Forward(x);
            Assert.Equal(new[] { 3, 0 }, h.Shape);
            h.Sum().Backward();
            Assert.Equal(new[] { 3, 10 }, x.Grad!.Shape);
            Assert.All(x.Grad!.ToArray<float>(), v => Assert.Equal(0f, v));
            x.Grad = null;
        }
        var (hl, cl) = new LstmCell(10, 0).Forward(x);
        Assert.Equal(new[] { 3, 0 }, hl.Shape);
        Assert.Equal(new[] { 3, 0 }, cl.Shape);
        Assert.Equal(new[] { 0, 10 }, new LstmCell(10, 0).StateDict()["weight_ih"].Shape);
    }
}
