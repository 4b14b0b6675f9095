// The naive reference the fused recurrent kernels are tested against: double precision, one
// sequence at a time, one time step at a time, straight from PyTorch's documented equations
// (nn.RNN / nn.LSTM / nn.GRU). No GEMMs, no packing tricks, no saved state; gradients come from
// central finite differences of this forward. Slow and obviously right, as llm.c's naive matmul.
using Recurrent.Kernels;

namespace Recurrent.Tests.Kernels;

internal static class RnnReference
{
    public sealed record Result(double[] Y, double[] HN, double[] CN);

    /// <summary>
    /// Stack forward over a packed sequence. x: (N, I); h0: (L*dirs, B, Hout); c0: (L*dirs, B, H);
    /// weights in PyTorch's flat order; mask: ((L-1), N, dirs*Hout) or null.
    /// </summary>
    public static Result Forward(RnnStackSizes s, int[] batchSizes, double[] x, double[] h0, double[] c0, double[][] weights, double[]? mask)
    {
        int L = s.NumLayers, dirs = s.Directions, H = s.HiddenSize, hOut = s.OutSize, width = dirs * hOut;
        int B = batchSizes[0], steps = batchSizes.Length, n = batchSizes.Sum(), per = 2 + (s.HasBias ? 2 : 0) + (s.ProjSize > 0 ? 1 : 0);
        var offs = new int[steps];
        for (int t = 1; t < steps; t++) offs[t] = offs[t - 1] + batchSizes[t - 1];
        var hN = new double[L * dirs * B * hOut];
        var cN = new double[s.Mode == RnnMode.Lstm ? L * dirs * B * H : 0];
        double[] input = x;
        int inSize = s.InputSize;
        double[] y = [];
        for (int l = 0; l < L; l++)
        {
            y = new double[n * width];
            for (int d = 0; d < dirs; d++)
            {
                int k = l * dirs + d;
                double[] wih = weights[k * per], whh = weights[k * per + 1];
                double[]? bih = s.HasBias ? weights[k * per + 2] : null, bhh = s.HasBias ? weights[k * per + 3] : null;
                double[]? whr = s.ProjSize > 0 ? weights[k * per + per - 1] : null;
                for (int b = 0; b < B; b++)
                {
                    int len = batchSizes.Count(bs => bs > b);
                    var h = new double[hOut];
                    var c = new double[H];
                    Array.Copy(h0, (k * B + b) * hOut, h, 0, hOut);
                    if (s.Mode == RnnMode.Lstm) Array.Copy(c0, (k * B + b) * H, c, 0, H);
                    for (int i = 0; i < len; i++)
                    {
                        int t = d == 0 ? i : len - 1 - i;
                        int row = offs[t] + b;
                        var xr = input.AsSpan(row * inSize, inSize).ToArray();
                        (h, c) = Cell(s.Mode, H, hOut, xr, h, c, wih, whh, bih, bhh, whr);
                        Array.Copy(h, 0, y, row * width + d * hOut, hOut);
                    }
                    Array.Copy(h, 0, hN, (k * B + b) * hOut, hOut);
                    if (s.Mode == RnnMode.Lstm) Array.Copy(c, 0, cN, (k * B + b) * H, H);
                }
            }
            if (l < L - 1 && mask != null)
                for (int i = 0; i < n * width; i++) y[i] *= mask[l * n * width + i];
            input = y;
            inSize = width;
        }
        return new Result(y, hN, cN);
    }

    // W x for W (rows, cols) row-major, rows [r0, r0 + count).
    private static double Dot(double[] w, int row, double[] v)
    {
        double acc = 0;
        for (int j = 0; j < v.Length; j++) acc += w[row * v.Length + j] * v[j];
        return acc;
    }

    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    private static (double[] H, double[] C) Cell(RnnMode mode, int H, int hOut, double[] x, double[] h, double[] c,
        double[] wih, double[] whh, double[]? bih, double[]? bhh, double[]? whr)
    {
        double Xi(int r) => Dot(wih, r, x) + (bih?[r] ?? 0);
        double Hi(int r) => Dot(whh, r, h) + (bhh?[r] ?? 0);
        var hNew = new double[hOut];
        var cNew = new double[H];
        switch (mode)
        {
            case RnnMode.RnnTanh:
                for (int j = 0; j < H; j++) hNew[j] = Math.Tanh(Xi(j) + Hi(j));
                break;
            case RnnMode.RnnRelu:
                for (int j = 0; j < H; j++) hNew[j] = Math.Max(0, Xi(j) + Hi(j));
                break;
            case RnnMode.Lstm:
            {
                // i = s(.), f = s(.), g = tanh(.), o = s(.); c' = f c + i g; h' = o tanh(c'); h' = W_hr h' if projecting
                var hp = new double[H];
                for (int j = 0; j < H; j++)
                {
                    double i = Sigmoid(Xi(j) + Hi(j)), f = Sigmoid(Xi(H + j) + Hi(H + j));
                    double g = Math.Tanh(Xi(2 * H + j) + Hi(2 * H + j)), o = Sigmoid(Xi(3 * H + j) + Hi(3 * H + j));
                    cNew[j] = f * c[j] + i * g;
                    hp[j] = o * Math.Tanh(cNew[j]);
                }
                if (whr is null) hNew = hp;
                else for (int p = 0; p < hOut; p++) hNew[p] = Dot(whr, p, hp);
                break;
            }
            case RnnMode.Gru:
                // r = s(W_ir x + b_ir + W_hr h + b_hr); z likewise; n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h
                for (int j = 0; j < H; j++)
                {
                    double r = Sigmoid(Xi(j) + Hi(j)), z = Sigmoid(Xi(H + j) + Hi(H + j));
                    double n = Math.Tanh(Xi(2 * H + j) + r * Hi(2 * H + j));
                    hNew[j] = (1 - z) * n + z * h[j];
                }
                break;
        }
        return (hNew, cNew);
    }
}
